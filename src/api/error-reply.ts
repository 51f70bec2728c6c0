// Every refusal as one JSON error (docs/api.md#errors): ours, a command's, fastify's validation and
// limits; anything else is a bug, logged with its stack and answered 500 without it.

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { isSendenseError } from '../errors.js';
import { maskSecrets } from '../secrets/mask.js';
import { ApiError } from './api-error.js';
import type { RouteDef } from './route.js';
import { routeOfRequest } from './route-config.js';
import { strictSchemas } from './strict-schema.js';

/** Request bodies larger than this are refused (413): no route takes more than a few fields. */
export const BODY_LIMIT = 64 * 1024;

export const ERROR_SCHEMA = Type.Object(
  { error: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) },
  { description: 'one error: docs/api.md#errors' },
);

export function asApiError(error: unknown, route?: RouteDef): ApiError | undefined {
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

export function sendError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
  log: (line: string) => void,
): FastifyReply {
  const known = asApiError(error, routeOfRequest(request));
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
