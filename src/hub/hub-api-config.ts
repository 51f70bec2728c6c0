// The hub config's `api` section (docs/api.md#serving-it): where `sendense-run api` listens, its
// TLS certificate, whether plain HTTP is allowed (loopback only), where its own files live.

import { isIP } from 'node:net';
import path from 'node:path';

export interface HubApiConfig {
  /** HOST:PORT; default 127.0.0.1:8420. */
  readonly listen: { readonly host: string; readonly port: number };
  /** A certificate and key of the operator's; undefined: the hub's own self-signed one. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Plain HTTP instead of TLS: only on a loopback address. */
  readonly plainHttp: boolean;
  /** The API's own files (its certificate, task logs); undefined: beside the state database. */
  readonly stateDir?: string;
}

export const DEFAULT_API_LISTEN = Object.freeze({ host: '127.0.0.1', port: 8420 });
const KEYS = ['listen', 'tls', 'plainHttp', 'stateDir'];

type Fail = (key: readonly (string | number)[], message: string, at?: 'key' | 'value') => never;

export function checkHubApi(value: unknown, fail: Fail): HubApiConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(['api'], `api must be a mapping (known keys: ${KEYS.join(', ')})`);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record))
    if (!KEYS.includes(key)) fail(['api', key], `unknown key 'api.${key}' (known: ${KEYS.join(', ')})`, 'key');
  const listen = record.listen === undefined ? DEFAULT_API_LISTEN : parseListen(record.listen);
  if (listen === undefined)
    return fail(
      ['api', 'listen'],
      `api.listen must be HOST:PORT, e.g. 127.0.0.1:8420 or [::1]:8420 (got ${JSON.stringify(record.listen)})`,
    );
  const plainHttp = record.plainHttp ?? false;
  if (typeof plainHttp !== 'boolean') fail(['api', 'plainHttp'], 'api.plainHttp must be true or false');
  if (plainHttp === true && !isLoopback(listen.host))
    fail(['api', 'plainHttp'], `api.plainHttp is allowed only on a loopback address (listen is ${listen.host})`);
  let tls: HubApiConfig['tls'];
  if (record.tls !== undefined) {
    const given = record.tls as Record<string, unknown>;
    if (typeof given !== 'object' || given === null || Array.isArray(given))
      return fail(['api', 'tls'], 'api.tls must be a mapping { cert: PATH, key: PATH }');
    for (const key of Object.keys(given))
      if (key !== 'cert' && key !== 'key')
        fail(['api', 'tls', key], `unknown key 'api.tls.${key}' (known: cert, key)`, 'key');
    for (const key of ['cert', 'key']) {
      if (typeof given[key] !== 'string' || !path.isAbsolute(given[key]))
        fail(['api', 'tls', key], `api.tls.${key} must be an absolute path`);
    }
    tls = Object.freeze({ cert: given.cert as string, key: given.key as string });
  }
  const stateDir = record.stateDir;
  if (stateDir !== undefined && (typeof stateDir !== 'string' || !path.isAbsolute(stateDir)))
    fail(['api', 'stateDir'], 'api.stateDir must be an absolute path');
  return Object.freeze({
    listen,
    plainHttp: plainHttp as boolean,
    ...(tls ? { tls } : {}),
    ...(stateDir ? { stateDir: stateDir as string } : {}),
  });
}

/** HOST:PORT or [IPv6]:PORT; undefined when it is neither. */
export function parseListen(value: unknown): { readonly host: string; readonly port: number } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value.trim());
  if (!match) return undefined;
  const host = match[1] ?? match[2];
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  return Object.freeze({ host, port });
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}
