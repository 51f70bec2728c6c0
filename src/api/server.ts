// The API server (docs/api.md): fastify over HTTPS (or plain HTTP on loopback when asked), every
// route of ./routes/index.ts behind a token and its role, each refusal one JSON error, each action
// in the audit record, the OpenAPI 3.1 document made from the same table.

import swagger from '@fastify/swagger';
import fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { isSendenseError } from '../errors.js';
import { maskSecrets } from '../secrets/mask.js';
import { ApiError } from './api-error.js';
import { clearedSessionCookie, sessionCookie, type Authenticator, type Caller } from './auth.js';
import { OpenResponses } from './open-responses.js';
import { sendJsonText } from './json-answer.js';
import { JsonText, REPLIED, type ApiContext, type RouteCall, type RouteDef } from './route.js';
import { ROLES, roleAllows, type Role } from './roles.js';
import { requestedTarget } from './requested-target.js';
import { ROUTES } from './routes/index.js';
import { strictSchemas } from './strict-schema.js';
import { UnauthenticatedRefusals } from './unauthenticated-refusals.js';

export interface ApiServerOptions {
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly auth: Authenticator;
  readonly version: string;
  /** Where an internal error's detail goes (the server's stderr). */
  readonly log?: (line: string) => void;
  /** Extra routes (the console's assets), registered after the API's. */
  readonly extend?: (app: FastifyInstance) => Promise<void> | void;
}

/** Request bodies larger than this are refused (413): no route takes more than a few fields. */
export const BODY_LIMIT = 64 * 1024;

interface RouteConfig {
  readonly route?: RouteDef;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

export async function buildApiServer(api: ApiContext, options: ApiServerOptions): Promise<FastifyInstance> {
  const responses = new OpenResponses(options.auth);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const app = fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    // A stop ends open event streams and downloads too: they would otherwise hold it open.
    forceCloseConnections: true,
    routerOptions: { maxParamLength: 500 },
    // A URL fastify cannot decode (percent-encoding that is not UTF-8) answered in our one shape.
    frameworkErrors: (error, _request, reply) => {
      void (reply as unknown as FastifyReply)
        .code(400)
        .send(new ApiError('bad-request', `the URL cannot be read: ${error.message}`).body());
    },
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
    // A field the schema does not name is refused, never silently dropped.
    ajv: { customOptions: { coerceTypes: true, allErrors: false, removeAdditional: false } },
  }) as unknown as FastifyInstance;
  // Answers are plain JSON.stringify: the response schemas document, they never drop a field.
  app.setSerializerCompiler(() => (data) => (data instanceof JsonText ? data.text : JSON.stringify(data)));
  // An empty JSON body is no body (a POST without fields); a malformed one is a 400.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(new ApiError('bad-request', `the body is not valid JSON: ${(error as Error).message}`), undefined);
    }
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'sendense-run hub API',
        version: options.version,
        description: 'The hub of sendense-run as a service: docs/api.md.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'an API token: sendense-run token add NAME --role ROLE',
          },
          session: {
            type: 'apiKey',
            in: 'cookie',
            name: 'sendense_session',
            description: 'a console session (POST /api/v1/login); state-changing requests also need X-CSRF-Token',
          },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
  });

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => sendError(error, request, reply, log));
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .send(new ApiError('not-found', `no route ${request.method} ${request.url.split('?')[0]}`).body());
  });

  // Who asks, before anything else is read of the request: 401/403 come before a 400.
  const unauthenticated = new UnauthenticatedRefusals({
    add: (entry) => audit(api, entry),
    setOutcome: (id, outcome) => api.store.api.setAuditOutcome(id, maskSecrets(outcome)).catch(() => {}),
  });
  app.addHook('onRequest', async (request, reply) => {
    const route = (request.routeOptions.config as RouteConfig | undefined)?.route;
    if (route === undefined) return;
    let caller: Caller | undefined;
    try {
      caller = await options.auth.caller({
        method: request.method,
        headers: request.headers,
        address: request.ip,
      });
      if (!roleAllows(caller.role, route.role)) {
        const params = (request.params ?? {}) as Record<string, string>;
        const needed = (await route.neededRole?.(params, api).catch(() => undefined)) ?? route.role;
        const what =
          needed === route.role ? `${route.method} ${route.url}` : `${route.method} ${request.url.split('?')[0]}`;
        throw new ApiError(
          'forbidden',
          `${what} needs the ${needed} role or higher; token ${caller.token} has ${caller.role}`,
        );
      }
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
  });
  // A route with an optional body: none is an empty object, so its fields are checked as such.
  app.addHook('preValidation', async (request) => {
    const route = (request.routeOptions.config as RouteConfig | undefined)?.route;
    if (route !== undefined && route.method !== 'GET' && (request.body === undefined || request.body === null))
      request.body = {};
  });

  for (const route of ROUTES) registerRoute(app, api, route, responses);
  registerSessionRoutes(app, options.auth);
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await options.extend?.(app);
  return app;
}

function registerRoute(app: FastifyInstance, api: ApiContext, route: RouteDef, responses: OpenResponses): void {
  const schema = {
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
  app.route({
    method: route.method,
    url: route.url,
    schema,
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

function registerSessionRoutes(app: FastifyInstance, auth: Authenticator): void {
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

const ERROR_SCHEMA = Type.Object(
  { error: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) },
  { description: 'one error: docs/api.md#errors' },
);

async function audit(
  api: ApiContext,
  entry: Parameters<ApiContext['store']['api']['addAudit']>[0],
): Promise<string | undefined> {
  try {
    return await api.store.api.addAudit({
      ...entry,
      target: entry.target === null ? null : maskSecrets(entry.target),
      outcome: maskSecrets(entry.outcome),
    });
  } catch {
    // The record is best effort: a failed write must not turn a done action into an error.
    return undefined;
  }
}

function asApiError(error: unknown, route?: RouteDef): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (isSendenseError(error)) return ApiError.fromCommand(error.exitCode, error.describe());
  const fastifyError = error as FastifyError & {
    validation?: { instancePath?: string; params?: Record<string, unknown> }[];
    code?: string;
    validationContext?: string;
  };
  if (fastifyError?.validation) {
    const first = fastifyError.validation[0];
    const unknown = first?.params?.additionalProperty as string | undefined;
    if (unknown !== undefined) return unknownField(unknown, first?.instancePath, fastifyError.validationContext, route);
    const missing = first?.params?.missingProperty as string | undefined;
    const field =
      missing ?? (first?.instancePath?.replace(/^\//, '').replaceAll('/', '.') || fastifyError.validationContext);
    return new ApiError('bad-request', fastifyError.message, field || undefined);
  }
  if (fastifyError?.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new ApiError('payload-too-large', `the body is larger than ${BODY_LIMIT} bytes`);
  if (typeof fastifyError?.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const code =
      fastifyError.statusCode === 404
        ? 'not-found'
        : fastifyError.statusCode === 413
          ? 'payload-too-large'
          : fastifyError.statusCode === 401
            ? 'unauthorized'
            : 'bad-request';
    return new ApiError(code, fastifyError.message);
  }
  return undefined;
}

// A field the route does not declare: named, with the ones it does (docs/api.md#errors).
function unknownField(name: string, at: string | undefined, context: string | undefined, route?: RouteDef): ApiError {
  const where = context === 'querystring' ? 'query' : (context ?? 'request');
  const inside = at ? at.replace(/^\//, '').replaceAll('/', '.') : '';
  const field = inside ? `${inside}.${name}` : name;
  const schema =
    route && !inside
      ? (strictSchemas(route) as unknown as Record<string, TSchema | undefined>)[context ?? '']
      : undefined;
  const declared = Object.keys((schema?.properties as Record<string, unknown> | undefined) ?? {});
  return new ApiError(
    'bad-request',
    `the ${where} field '${field}' is not one this route takes (${declared.length === 0 ? `it takes no ${where} fields` : `it takes: ${declared.join(', ')}`}); nothing was done`,
    field,
  );
}

function sendError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  log: (line: string) => void,
): FastifyReply {
  const known = asApiError(error, (request.routeOptions?.config as RouteConfig | undefined)?.route);
  if (known) {
    if (known.status === 429) void reply.header('retry-after', '1');
    return reply.code(reply.statusCode === 416 ? 416 : known.status).send(known.body());
  }
  log(
    `sendense-run api: internal error on ${request.method} ${request.url.split('?')[0]} (a bug, please report it):\n${maskSecrets((error as Error)?.stack ?? String(error))}`,
  );
  return reply
    .code(500)
    .send(new ApiError('internal', 'internal error: the hub logged it (a bug, please report it)').body());
}
