// The API server (docs/api.md): fastify over HTTPS (or plain HTTP on loopback when asked), every
// route of ./routes/index.ts behind a token and its role, each refusal one JSON error, each action
// in the audit record, the OpenAPI 3.1 document made from the same table.

import fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { ApiError } from './api-error.js';
import type { Authenticator } from './auth.js';
import { callerCheck } from './caller-check.js';
import { BODY_LIMIT, sendError } from './error-reply.js';
import { registerOpenApi } from './openapi-document.js';
import { OpenResponses } from './open-responses.js';
import { JsonText, type ApiContext } from './route.js';
import { routeOfRequest } from './route-config.js';
import { registerRoute } from './route-registration.js';
import { ROUTES } from './routes/index.js';
import { registerSessionRoutes } from './session-routes.js';

export interface ApiServerOptions {
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  readonly auth: Authenticator;
  readonly version: string;
  /** Where an internal error's detail goes (the server's stderr). */
  readonly log?: (line: string) => void;
  /** Extra routes (the console's assets), registered after the API's. */
  readonly extend?: (app: FastifyInstance) => Promise<void> | void;
}

export async function buildApiServer(api: ApiContext, options: ApiServerOptions): Promise<FastifyInstance> {
  const responses = new OpenResponses(options.auth);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const app = createFastify(options.tls);
  // Answers are plain JSON.stringify: the response schemas document, they never drop a field.
  app.setSerializerCompiler(() => (data) => (data instanceof JsonText ? data.text : JSON.stringify(data)));
  parseJsonBodies(app);
  await registerOpenApi(app, options.version);

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => sendError(error, request, reply, log));
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .send(new ApiError('not-found', `no route ${request.method} ${request.url.split('?')[0]}`).body());
  });
  app.addHook('onRequest', callerCheck(api, options.auth, responses));
  // A route with an optional body: none is an empty object, so its fields are checked as such.
  app.addHook('preValidation', async (request) => {
    const route = routeOfRequest(request);
    if (route !== undefined && route.method !== 'GET' && (request.body === undefined || request.body === null))
      request.body = {};
  });

  for (const route of ROUTES) registerRoute(app, api, route, responses);
  registerSessionRoutes(app, options.auth);
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await options.extend?.(app);
  return app;
}

function createFastify(tls: ApiServerOptions['tls']): FastifyInstance {
  return fastify({
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
    ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
    // A field the schema does not name is refused, never silently dropped.
    ajv: { customOptions: { coerceTypes: true, allErrors: false, removeAdditional: false } },
  }) as unknown as FastifyInstance;
}

// An empty JSON body is no body (a POST without fields); a malformed one is a 400.
function parseJsonBodies(app: FastifyInstance): void {
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
}
