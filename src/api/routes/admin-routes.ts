// Tokens and the audit record (docs/api.md#tokens-and-roles, #the-audit-record): admin only.
// A new token's secret is in the answer once; only its hash is kept.

import { Type } from '@sinclair/typebox';
import { ApiError } from '../api-error.js';
import { ROLES } from '../roles.js';
import type { RouteDef } from '../route.js';
import { addToken } from '../tokens.js';

const TokenJson = Type.Object({
  name: Type.String(),
  role: Type.String(),
  createdAt: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
});

export const adminRoutes: readonly RouteDef[] = [
  {
    method: 'GET',
    url: '/api/v1/tokens',
    role: 'admin',
    tag: 'admin',
    summary: 'The tokens: name, role, created, last used, expires (never a secret)',
    response: Type.Object({ tokens: Type.Array(TokenJson) }),
    async handle(call) {
      return { tokens: await call.api.store.api.listTokens() };
    },
  },
  {
    method: 'POST',
    url: '/api/v1/tokens',
    role: 'admin',
    tag: 'admin',
    summary: 'A new token (`token add NAME --role ROLE [--expires 90d]`): its secret is in this answer only',
    action: 'token-add',
    body: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
        role: Type.Union(ROLES.map((role) => Type.Literal(role))),
        expires: Type.Optional(Type.String({ maxLength: 16, description: 'a duration: 90d, 12h, 4w, 1y' })),
      },
      { additionalProperties: false },
    ),
    response: Type.Object({ token: TokenJson, secret: Type.String() }),
    async handle(call) {
      const body = call.body as { name: string; role: (typeof ROLES)[number]; expires?: string };
      call.target(`token ${body.name}`);
      const added = await addToken(call.api.store, body);
      call.reply.code(201);
      return added;
    },
  },
  {
    method: 'DELETE',
    url: '/api/v1/tokens/:name',
    role: 'admin',
    tag: 'admin',
    summary: 'Remove a token: every request and session of it is refused from now on',
    action: 'token-remove',
    params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) }),
    async handle(call) {
      call.target(`token ${call.params.name}`);
      if (!(await call.api.store.api.removeToken(call.params.name)))
        throw new ApiError('not-found', `no token named ${call.params.name}`, 'name');
      return { removed: call.params.name };
    },
  },
  {
    method: 'GET',
    url: '/api/v1/audit',
    role: 'admin',
    tag: 'admin',
    summary: 'The audit record: every action taken through the API (who, what, target, when, outcome), newest first',
    querystring: Type.Object({
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
      token: Type.Optional(Type.String({ maxLength: 64 })),
    }),
    response: Type.Object({ entries: Type.Array(Type.Object({}, { additionalProperties: true })) }),
    async handle(call) {
      const limit = (call.query.limit as number | undefined) ?? 100;
      return {
        entries: await call.api.store.api.listAudit({
          limit,
          ...(call.query.token ? { token: String(call.query.token) } : {}),
        }),
      };
    },
  },
];
