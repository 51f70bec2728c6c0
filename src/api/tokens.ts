// Adding a token (docs/api.md#tokens-and-roles), for `sendense-run token add` and POST /api/v1/tokens
// alike: a unique name, a role, an optional lifetime; the secret is returned once, its hash kept.

import { SendenseError, usageError } from '../errors.js';
import type { ApiToken } from '../store/api-records.js';
import type { Store } from '../store/index.js';
import { ApiError } from './api-error.js';
import { isRole, ROLES, type Role } from './roles.js';
import { newTokenSecret, secretHash } from './token-secret.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const LAST_EXPIRY = Date.UTC(10000, 0, 1);
const UNITS: Readonly<Record<string, number>> = { h: 3600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 };

/** 90d, 12h, 4w, 1y → milliseconds; undefined when it is not such a duration. */
export function parseLifetime(text: string): number | undefined {
  const match = /^([1-9]\d{0,5})([hdwy])$/.exec(text.trim());
  return match ? Number(match[1]) * UNITS[match[2]] : undefined;
}

export async function addToken(
  store: Store,
  request: { readonly name: string; readonly role: string; readonly expires?: string },
  now = Date.now(),
): Promise<{ token: ApiToken; secret: string }> {
  if (!NAME.test(request.name))
    throw new ApiError(
      'bad-request',
      `token name '${request.name}' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      'name',
    );
  if (!isRole(request.role))
    throw new ApiError('bad-request', `role must be one of ${ROLES.join(', ')} (got '${request.role}')`, 'role');
  let expiresAt: string | null = null;
  if (request.expires !== undefined) {
    const lifetime = parseLifetime(request.expires);
    if (lifetime === undefined)
      throw new ApiError(
        'bad-request',
        `expires must be a duration like 90d, 12h, 4w or 1y (got '${request.expires}')`,
        'expires',
      );
    // Past the year 9999 a date has no ISO form (and no meaning here): a usage error, not a crash.
    const end = new Date(now + lifetime);
    if (!(end.getTime() < LAST_EXPIRY))
      throw new ApiError(
        'bad-request',
        `expires ${request.expires} ends after the year 9999: give a shorter lifetime, or none (a token without one never expires)`,
        'expires',
      );
    expiresAt = end.toISOString();
  }
  if ((await store.api.listTokens()).some((token) => token.name === request.name))
    throw new ApiError('conflict', `a token named ${request.name} exists already (remove it first)`, 'name');
  const secret = newTokenSecret();
  const token = await store.api.addToken({
    name: request.name,
    role: request.role as Role,
    secretHash: secretHash(secret),
    expiresAt,
  });
  return { token, secret };
}

/** The CLI's form of an API refusal: a usage error (exit 2) or a state error (exit 1). */
export function asCliError(error: unknown): unknown {
  if (!(error instanceof ApiError)) return error;
  return error.status === 409 ? new SendenseError(error.message) : usageError(error.message);
}
