// The hub config (docs/how-it-works.md#scale): /etc/sendense/hub.yaml or --hub-config PATH. Every key is
// optional; a mistake is one error naming file:line:column. Frozen once read.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { planError } from '../errors.js';
import { parseMemory } from '../format/byte-size.js';
import { parsePlanYaml, type PlanYaml } from '../plan/parse-plan-yaml.js';
import type { NotifySettings } from '../plan/types.js';
import { checkHubApi, type HubApiConfig } from './hub-api-config.js';
import { checkHubNotify } from './hub-notify.js';
import { parseRate } from '../rate/rate-text.js';
import { formatClock, parseClock, parseDays, type RateWindow } from '../rate/rate-windows.js';

export const DEFAULT_HUB_CONFIG_FILE = '/etc/sendense/hub.yaml';

export interface HubConfig {
  readonly name: string;
  /** Where this hub may run plans; undefined = any. */
  readonly repositories?: readonly string[];
  /** Disks transferred at once on this hub, all runs and processes together. */
  readonly maxParallelDisks: number;
  /** Bytes: budget for sendense-run and every qemu-nbd it starts, together. */
  readonly memory: number;
  /** The hub's NBD port range; undefined = not set (each plan's nbd.ports, default 10100-10200). */
  readonly ports?: { readonly first: number; readonly last: number };
  /** Bytes per second every run's data path may use at most (docs/bandwidth.md); undefined = no hub-wide limit. */
  readonly rate?: number;
  /** Times of the week with a rate of their own (hub local time); the lowest rate in force applies. */
  readonly windows?: readonly RateWindow[];
  /** Notifications for plans without a `notify` of their own (docs/notifications.md); undefined = none. */
  readonly notify?: NotifySettings;
  /** `sendense-run api` (docs/api.md#serving-it); undefined = its defaults. */
  readonly api?: HubApiConfig;
  /** The file it came from; undefined = built-in defaults (no file). */
  readonly file?: string;
}

export const DEFAULT_HUB: Omit<HubConfig, 'name'> = Object.freeze({
  maxParallelDisks: 16,
  memory: 1.5 * 1024 ** 3,
});

const KEYS = ['name', 'repositories', 'maxParallelDisks', 'memory', 'nbd', 'rate', 'windows', 'notify', 'api'];
const WINDOW_KEYS = ['days', 'from', 'to', 'rate'];
const RATE_EXAMPLE = 'a rate like 50MiB/s or 200MB/s';

// --hub-config PATH must exist; the default file may be absent (then the defaults hold).
export function loadHubConfig(file: string | undefined): HubConfig {
  const chosen = file ?? DEFAULT_HUB_CONFIG_FILE;
  let text: string;
  try {
    text = readFileSync(chosen, 'utf8');
  } catch (error) {
    if (file === undefined && (error as NodeJS.ErrnoException).code === 'ENOENT')
      return Object.freeze({ name: hostname(), ...DEFAULT_HUB });
    throw planError(`cannot read the hub config: ${(error as Error).message}`, chosen);
  }
  return parseHubConfig(text, chosen);
}

export function parseHubConfig(text: string, file: string): HubConfig {
  const yaml = parsePlanYaml(text);
  const first = yaml.syntaxErrors[0];
  if (first) throw planError(first.message, file, first.position.line, first.position.column);
  const fail = (key: readonly (string | number)[], message: string, at: 'key' | 'value' = 'value'): never => {
    const { line, column } = yaml.locate(key, at);
    throw planError(`hub config: ${message}`, file, line, column);
  };
  const data = yaml.data ?? {};
  if (typeof data !== 'object' || Array.isArray(data))
    return fail([], `must be a mapping of keys (${KEYS.join(', ')})`);
  const record = data as Record<string, unknown>;
  for (const key of Object.keys(record))
    if (!KEYS.includes(key)) fail([key], `unknown key '${key}' (known: ${KEYS.join(', ')})`, 'key');
  const name = record.name ?? hostname();
  if (typeof name !== 'string' || name === '') fail(['name'], 'name must be a non-empty string');
  const maxParallelDisks = record.maxParallelDisks ?? DEFAULT_HUB.maxParallelDisks;
  if (!Number.isInteger(maxParallelDisks) || (maxParallelDisks as number) < 1 || (maxParallelDisks as number) > 1000) {
    fail(
      ['maxParallelDisks'],
      `maxParallelDisks must be an integer from 1 to 1000 (got ${JSON.stringify(maxParallelDisks)})`,
    );
  }
  const memory = record.memory === undefined ? DEFAULT_HUB.memory : parseMemory(record.memory);
  if (memory === undefined)
    return fail(['memory'], `memory must be a size like 1.5GiB, 800MiB or 2G (got ${JSON.stringify(record.memory)})`);
  if (memory < 256 * 1024 ** 2) fail(['memory'], `memory ${String(record.memory)} is below the 256MiB one run needs`);
  const repositories =
    record.repositories === undefined ? undefined : checkRepositories(record.repositories, yaml, fail);
  const ports = record.nbd === undefined ? undefined : checkNbd(record.nbd, fail);
  const rate = record.rate === undefined ? undefined : parseRate(record.rate);
  if (record.rate !== undefined && rate === undefined)
    fail(['rate'], `rate must be ${RATE_EXAMPLE} (got ${JSON.stringify(record.rate)})`);
  const windows = record.windows === undefined ? undefined : checkWindows(record.windows, fail);
  const notify = record.notify === undefined ? undefined : checkHubNotify(record.notify, fail);
  const api = record.api === undefined ? undefined : checkHubApi(record.api, fail);
  return Object.freeze({
    name: name as string,
    ...(repositories ? { repositories } : {}),
    maxParallelDisks: maxParallelDisks as number,
    memory,
    ...(ports ? { ports } : {}),
    ...(rate !== undefined ? { rate } : {}),
    ...(windows ? { windows } : {}),
    ...(notify ? { notify } : {}),
    ...(api ? { api } : {}),
    file,
  });
}

type Fail = (key: readonly (string | number)[], message: string, at?: 'key' | 'value') => never;

function checkRepositories(value: unknown, _yaml: PlanYaml, fail: Fail): readonly string[] {
  if (!Array.isArray(value)) return fail(['repositories'], 'repositories must be a list of absolute paths');
  value.forEach((entry, i) => {
    if (typeof entry !== 'string' || !path.isAbsolute(entry))
      fail(['repositories', i], `repositories[${i}] must be an absolute path (got ${JSON.stringify(entry)})`);
  });
  return Object.freeze(value.map((entry: string) => path.resolve(entry)));
}

function checkNbd(value: unknown, fail: Fail): HubConfig['ports'] | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return fail(['nbd'], 'nbd must be a mapping with ports: FIRST-LAST');
  for (const key of Object.keys(value))
    if (key !== 'ports') fail(['nbd', key], `unknown key 'nbd.${key}' (known: ports)`, 'key');
  const text = (value as { ports?: unknown }).ports;
  if (text === undefined) return undefined;
  const match = typeof text === 'string' ? /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text) : null;
  const first = Number(match?.[1]);
  const last = Number(match?.[2]);
  if (!match || first < 1 || last > 65535 || first > last)
    return fail(
      ['nbd', 'ports'],
      `nbd.ports must be FIRST-LAST within 1-65535, first <= last (got ${JSON.stringify(text)})`,
    );
  return Object.freeze({ first, last });
}

// windows: [{ days: mon-fri, from: "08:00", to: "18:00", rate: 20MiB/s }] (docs/bandwidth.md).
function checkWindows(value: unknown, fail: Fail): readonly RateWindow[] {
  if (!Array.isArray(value)) return fail(['windows'], 'windows must be a list of { days, from, to, rate }');
  return Object.freeze(value.map((entry: unknown, i) => checkWindow(entry, i, fail)));
}

function checkWindow(entry: unknown, i: number, fail: Fail): RateWindow {
  const at = (key?: string) => (key === undefined ? ['windows', i] : ['windows', i, key]);
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    return fail(at(), `windows[${i}] must be a mapping { days, from, to, rate }`);
  const window = entry as Record<string, unknown>;
  for (const key of Object.keys(window))
    if (!WINDOW_KEYS.includes(key))
      fail(at(key), `unknown key 'windows[${i}].${key}' (known: ${WINDOW_KEYS.join(', ')})`, 'key');
  for (const key of ['from', 'to', 'rate']) if (window[key] === undefined) fail(at(), `windows[${i}] needs ${key}`);
  const daysText = window.days === undefined ? 'mon-sun' : window.days;
  const days = typeof daysText === 'string' ? parseDays(daysText) : undefined;
  if (days === undefined)
    return fail(
      at('days'),
      `windows[${i}].days must be days like mon-fri, sat,sun or mon (got ${JSON.stringify(window.days)})`,
    );
  const clock = (key: 'from' | 'to'): number => {
    const seconds = typeof window[key] === 'string' ? parseClock(window[key], key === 'to') : undefined;
    return (
      seconds ??
      fail(
        at(key),
        `windows[${i}].${key} must be a time of day "HH:MM" or "HH:MM:SS"${key === 'to' ? ' (or "24:00")' : ''} (got ${JSON.stringify(window[key])})`,
      )
    );
  };
  const from = clock('from');
  const to = clock('to');
  if (from === to) fail(at('to'), `windows[${i}]: from and to are the same time, a window of no time`);
  const rate = parseRate(window.rate);
  if (rate === undefined)
    return fail(at('rate'), `windows[${i}].rate must be ${RATE_EXAMPLE} (got ${JSON.stringify(window.rate)})`);
  const text = `${String(daysText).replace(/\s+/g, '').toLowerCase()} ${formatClock(from)}-${formatClock(to)}`;
  return Object.freeze({ days: Object.freeze(days), from, to, rate, text });
}
