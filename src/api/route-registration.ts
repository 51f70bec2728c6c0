// One route of the table registered in fastify: its OpenAPI schema, and a handler that gives the
// route its call, records the action in the audit record and sends what it answers.

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { audit } from './audit-entry.js';
import { asApiError, ERROR_SCHEMA } from './error-reply.js';
import { sendJsonText } from './json-answer.js';
import type { OpenResponses } from './open-responses.js';
import { JsonText, REPLIED, type ApiContext, type RouteCall, type RouteDef } from './route.js';
import type { RouteConfig } from './route-config.js';
import { strictSchemas } from './strict-schema.js';

export function registerRoute(app: FastifyInstance, api: ApiContext, route: RouteDef, responses: OpenResponses): void {
  app.route({
    method: route.method,
    url: route.url,
    schema: routeSchema(route),
    config: { route } satisfies RouteConfig,
    handler: async (request, reply) => {
      let target: string | null = null;
      let taskId: string | null = null;
      const call: RouteCall = {
        caller: request.caller!,
        params: (request.params ?? {}) as Record<string, string>,
        query: (request.query ?? {}) as Record<string, unknown>,
        body: request.body,
        request,
        reply,
        api,
        target: (text) => (target = text),
        startedTask: (id) => (taskId = id),
        startDownload: () => responses.startDownload(request.caller!, reply.raw),
      };
      const record = (status: number, outcome: string) =>
        route.action
          ? audit(api, {
              token: call.caller.token,
              address: request.ip,
              action: route.action,
              target,
              status,
              outcome,
              taskId,
            })
          : Promise.resolve();
      try {
        const answer = await route.handle(call);
        await record(reply.statusCode, 'ok');
        if (answer === REPLIED) return reply;
        if (answer instanceof JsonText) return sendJsonText(request, reply, answer);
        return answer;
      } catch (error) {
        const apiError = asApiError(error);
        await record(apiError?.status ?? 500, apiError?.message ?? 'internal error');
        throw error;
      }
    },
  });
}

// The route in the OpenAPI document: its role, its strict schemas, its answer and its errors.
function routeSchema(route: RouteDef) {
  return {
    summary: route.summary,
    tags: [route.tag],
    description: `Needs the ${route.role} role or higher.${route.startsTask ? ' Starts a task: 202 with it, or 200 once it has ended with ?wait=true.' : ''}${route.aliasOf ? ` An alias of ${route.aliasOf}.` : ''}`,
    ...strictSchemas(route),
    response: {
      [route.startsTask ? '202' : '200']:
        route.response ?? Type.Any({ description: route.produces ?? 'application/json' }),
      '4XX': ERROR_SCHEMA,
    },
  };
}
