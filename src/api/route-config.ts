// The route a request matched, as the server keeps it in fastify's route config: the hooks and the
// error handler read it to know the role, the audit action and the schemas.

import type { FastifyRequest } from 'fastify';
import type { RouteDef } from './route.js';

export interface RouteConfig {
  readonly route?: RouteDef;
}

// The API route of this request; undefined for the session routes, the console's assets and a 404.
export function routeOfRequest(request: FastifyRequest): RouteDef | undefined {
  return (request.routeOptions?.config as RouteConfig | undefined)?.route;
}
