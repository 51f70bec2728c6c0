// API token secrets (docs/api.md#tokens-and-roles): 256 random bits, shown once; the database keeps
// only their SHA-256 (a random 256-bit secret needs no slow hash: there is nothing to guess).

import { createHash, randomBytes } from 'node:crypto';

const PREFIX = 'sdr_';

export function newTokenSecret(): string {
  return `${PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function secretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Whether a string has a secret's shape (it is not looked up otherwise). */
export function looksLikeSecret(text: string): boolean {
  return text.startsWith(PREFIX) && /^[A-Za-z0-9_-]{43}$/.test(text.slice(PREFIX.length));
}
