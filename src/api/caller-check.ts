// Who asks, before anything else is read of the request (so 401/403 come before a 400): the token
// or session, its role against the route's, and a refusal of an action in the audit record.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { maskSecrets } from '../secrets/mask.js';
import { ApiError } from './api-error.js';
import { audit } from './audit-entry.js';
import type { Authenticator, Caller } from './auth.js';
import type { OpenResponses } from './open-responses.js';
import { requestedTarget } from './requested-target.js';
import type { ApiContext, RouteDef } from './route.js';
import { routeOfRequest } from './route-config.js';
import { roleAllows } from './roles.js';
import { UnauthenticatedRefusals } from './unauthenticated-refusals.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

// The onRequest hook: request.caller set, or the refusal thrown (and recorded).
export function callerCheck(
  api: ApiContext,
  auth: Authenticator,
  responses: OpenResponses,
): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const unauthenticated = new UnauthenticatedRefusals({
    add: (entry) => audit(api, entry),
    setOutcome: (id, outcome) => api.store.api.setAuditOutcome(id, maskSecrets(outcome)).catch(() => {}),
  });
  return async (request, reply) => {
    const route = routeOfRequest(request);
    if (route === undefined) return;
    let caller: Caller | undefined;
    try {
      caller = await auth.caller({
        method: request.method,
        headers: request.headers,
        address: request.ip,
      });
      if (!roleAllows(caller.role, route.role)) throw await roleRefusal(api, request, route, caller);
      request.caller = caller;
      responses.track(caller, request.raw, reply.raw);
    } catch (error) {
      if (route.action && error instanceof ApiError) {
        const entry = {
          token: caller?.token ?? null,
          address: request.ip,
          action: route.action,
          target: requestedTarget(route.url, request.params, request.query),
          status: error.status,
          outcome: error.message,
          taskId: null,
        };
        // A flood without a token must not push real entries out of view.
        await (error.status === 401 ? unauthenticated.record(entry) : audit(api, entry));
      }
      throw error;
    }
  };
}

// A 403 naming the role needed: the route's, or what this target needs (a restore plan's runRole).
async function roleRefusal(
  api: ApiContext,
  request: FastifyRequest,
  route: RouteDef,
  caller: Caller,
): Promise<ApiError> {
  const params = (request.params ?? {}) as Record<string, string>;
  const needed = (await route.neededRole?.(params, api).catch(() => undefined)) ?? route.role;
  const what = needed === route.role ? `${route.method} ${route.url}` : `${route.method} ${request.url.split('?')[0]}`;
  return new ApiError(
    'forbidden',
    `${what} needs the ${needed} role or higher; token ${caller.token} has ${caller.role}`,
  );
}
