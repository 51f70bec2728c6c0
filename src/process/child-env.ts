// The environment of every program this process starts (docs/encryption.md#how-keys-work,
// docs/copies.md): its own, less each variable a plan or the CLI named as holding a secret (a
// repository's keyEnv, --key-env, an object store's accessKeyIdEnv/secretAccessKeyEnv, a vCenter
// passwordEnv) and any variable whose value is a secret this process holds. A secret reaches a
// child only as the child's own input (a file descriptor, stdin), never in /proc/PID/environ,
// which stays readable for as long as the child runs.
//
// Every child also speaks English (docs/how-it-works.md#commands-on-a-node): we read what virsh,
// qemu-img and the other tools print (a domain's state, a job's type, an error's words) and show
// their messages beside our own. LC_MESSAGES=C; an LC_ALL, which would win over it, becomes LANG,
// and the LC_* it overrode go, so every other category (the character set first) stays the user's.

import { holdsSecret } from '../secrets/mask.js';

const hidden = new Set<string>();

/** Keeps the variable NAME out of every child's environment from now on. */
export function hideFromChildren(...names: readonly (string | undefined)[]): void {
  for (const name of names) if (name !== undefined && name !== '') hidden.add(name);
}

/** This process's environment without the secrets, then `extra` (what the caller means the child to have). */
export function childEnv(
  extra: Readonly<Record<string, string | undefined>> = {},
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const all = base.LC_ALL;
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined || hidden.has(name) || holdsSecret(value)) continue;
    if (name === 'LANGUAGE' || (all && (name === 'LANG' || name.startsWith('LC_')))) continue;
    env[name] = value;
  }
  if (all) env.LANG = all;
  env.LC_MESSAGES = 'C';
  return { ...env, ...extra };
}
