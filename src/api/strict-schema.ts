// Every request schema of the API is strict (docs/api.md#errors): a query, params or body field a
// route does not declare is a 400 naming it, never dropped. A route that declares no query takes
// none; a POST or DELETE that declares no body takes none (an empty one is no body).

import { Type, type TSchema } from '@sinclair/typebox';
import type { RouteDef } from './route.js';

const NOTHING = Type.Object({}, { additionalProperties: false });

export interface StrictSchemas {
  readonly params?: TSchema;
  readonly querystring: TSchema;
  readonly body?: TSchema;
}

export function strictSchemas(route: RouteDef): StrictSchemas {
  const body = route.body ?? (route.method === 'GET' ? undefined : NOTHING);
  return {
    ...(route.params ? { params: closed(route.params) } : {}),
    querystring: route.querystring ? closed(route.querystring) : NOTHING,
    ...(body ? { body: closed(body) } : {}),
  };
}

// The schema with every object in it closed to fields it does not name (a union's members too).
export function closed(schema: TSchema): TSchema {
  const copy: Record<string | symbol, unknown> = { ...schema };
  for (const symbol of Object.getOwnPropertySymbols(schema))
    copy[symbol] = (schema as unknown as Record<symbol, unknown>)[symbol];
  if (schema.type === 'object') {
    copy.additionalProperties = false;
    if (schema.properties)
      copy.properties = Object.fromEntries(
        Object.entries(schema.properties as Record<string, TSchema>).map(([name, inner]) => [name, closed(inner)]),
      );
  }
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const)
    if (Array.isArray(schema[key])) copy[key] = (schema[key] as TSchema[]).map(closed);
  return copy as unknown as TSchema;
}
