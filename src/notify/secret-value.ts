// Reads a notification's secret (a header value, the SMTP password) when it is sent, and has it
// masked from then on (src/secrets/mask.ts): the value never reaches a message, event or the database.

import { readFile } from 'node:fs/promises';
import type { SecretSource } from '../plan/types.js';
import { hideFromChildren } from '../process/child-env.js';
import { addSecret } from '../secrets/mask.js';

export async function readSecret(source: SecretSource, env: NodeJS.ProcessEnv): Promise<string> {
  if ('env' in source) hideFromChildren(source.env);
  const value = 'env' in source ? env[source.env] : await readSecretFile(source.file);
  if (value === undefined) throw new Error(`environment variable ${(source as { env: string }).env} is not set`);
  addSecret(value);
  return value;
}

// One trailing newline is the editor's, not the secret's.
async function readSecretFile(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
      cause: error,
    });
  }
}

// Where a URL goes, without its path or query: they may carry a token (a Slack webhook's does).
export function urlOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'an invalid URL';
  }
}
