// The console's session routes (docs/api.md#tokens-and-roles): log in with a token's secret, log out, and
// who this is with what its role may do.

import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { clearedSessionCookie, sessionCookie, type Authenticator } from './auth.js';
import { ERROR_SCHEMA } from './error-reply.js';
import { ROLES, roleAllows, type Role } from './roles.js';
import { ROUTES } from './routes/index.js';

export function registerSessionRoutes(app: FastifyInstance, auth: Authenticator): void {
  app.post(
    '/api/v1/login',
    {
      schema: {
        summary:
          "Log in with a token's secret: a session cookie (HttpOnly, Secure, SameSite=Strict) and the CSRF token every state-changing request must send as X-CSRF-Token",
        tags: ['session'],
        security: [],
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ token: Type.String(), role: Type.String(), csrf: Type.String() }),
          '4XX': ERROR_SCHEMA,
        },
      },
    },
    async (request, reply) => {
      const { sessionId, csrf, token } = await auth.login((request.body as { token: string }).token, request.ip);
      void reply.header('set-cookie', sessionCookie(sessionId)).header('cache-control', 'no-store');
      return { token: token.name, role: token.role, csrf };
    },
  );
  app.post(
    '/api/v1/logout',
    { schema: { summary: 'End the session', tags: ['session'], security: [] } },
    async (request, reply) => {
      auth.logout({ method: request.method, headers: request.headers, address: request.ip });
      void reply.header('set-cookie', clearedSessionCookie());
      return { loggedOut: true };
    },
  );
  app.get(
    '/api/v1/session',
    {
      schema: {
        summary: "Who this is: the token's name and role, the session's CSRF token, and the routes' roles",
        tags: ['session'],
      },
    },
    async (request) => {
      const caller = await auth.caller({ method: request.method, headers: request.headers, address: request.ip });
      const csrf =
        caller.via === 'session'
          ? auth.csrfOf({ method: request.method, headers: request.headers, address: request.ip })
          : undefined;
      return {
        token: caller.token,
        role: caller.role,
        via: caller.via,
        ...(csrf ? { csrf } : {}),
        roles: ROLES,
        can: allowedActions(caller.role),
      };
    },
  );
}

// What this role may do, by route: the console offers nothing the API would refuse.
function allowedActions(role: Role): string[] {
  return ROUTES.filter((route) => roleAllows(role, route.role)).map((route) => `${route.method} ${route.url}`);
}
