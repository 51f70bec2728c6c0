// The hub config (docs/how-it-works.md#scale): /etc/sendense/hub.yaml or --hub-config PATH. Every key is
// optional; a mistake is one error naming file:line:column. Frozen once read.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { planError } from '../errors.js';
import { parsePlanYaml, type PlanYaml } from '../plan/parse-plan-yaml.js';

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
  /** The file it came from; undefined = built-in defaults (no file). */
  readonly file?: string;
}

export const DEFAULT_HUB: Omit<HubConfig, 'name'> = Object.freeze({
  maxParallelDisks: 16,
  memory: 1.5 * 1024 ** 3,
});

const KEYS = ['name', 'repositories', 'maxParallelDisks', 'memory', 'nbd'];
const UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3, t: 1e12, tb: 1e12, tib: 1024 ** 4 };

// --hub-config PATH must exist; the default file may be absent (then the defaults hold).
export function loadHubConfig(file: string | undefined): HubConfig {
  const chosen = file ?? DEFAULT_HUB_CONFIG_FILE;
  let text: string;
  try {
    text = readFileSync(chosen, 'utf8');
  } catch (error) {
    if (file === undefined && (error as NodeJS.ErrnoException).code === 'ENOENT') return Object.freeze({ name: hostname(), ...DEFAULT_HUB });
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
  if (typeof data !== 'object' || Array.isArray(data)) return fail([], 'must be a mapping of keys (name, repositories, maxParallelDisks, memory, nbd)');
  const record = data as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!KEYS.includes(key)) fail([key], `unknown key '${key}' (known: ${KEYS.join(', ')})`, 'key');
  const name = record.name ?? hostname();
  if (typeof name !== 'string' || name === '') fail(['name'], 'name must be a non-empty string');
  const maxParallelDisks = record.maxParallelDisks ?? DEFAULT_HUB.maxParallelDisks;
  if (!Number.isInteger(maxParallelDisks) || (maxParallelDisks as number) < 1 || (maxParallelDisks as number) > 1000) {
    fail(['maxParallelDisks'], `maxParallelDisks must be an integer from 1 to 1000 (got ${JSON.stringify(maxParallelDisks)})`);
  }
  const memory = record.memory === undefined ? DEFAULT_HUB.memory : parseMemory(record.memory);
  if (memory === undefined) return fail(['memory'], `memory must be a size like 1.5GiB, 800MiB or 2G (got ${JSON.stringify(record.memory)})`);
  if (memory < 256 * 1024 ** 2) fail(['memory'], `memory ${String(record.memory)} is below the 256MiB one run needs`);
  const repositories = record.repositories === undefined ? undefined : checkRepositories(record.repositories, yaml, fail);
  const ports = record.nbd === undefined ? undefined : checkNbd(record.nbd, fail);
  return Object.freeze({
    name: name as string,
    ...(repositories ? { repositories } : {}),
    maxParallelDisks: maxParallelDisks as number,
    memory,
    ...(ports ? { ports } : {}),
    file,
  });
}

type Fail = (key: readonly (string | number)[], message: string, at?: 'key' | 'value') => never;

function checkRepositories(value: unknown, _yaml: PlanYaml, fail: Fail): readonly string[] {
  if (!Array.isArray(value)) return fail(['repositories'], 'repositories must be a list of absolute paths');
  value.forEach((entry, i) => {
    if (typeof entry !== 'string' || !path.isAbsolute(entry)) fail(['repositories', i], `repositories[${i}] must be an absolute path (got ${JSON.stringify(entry)})`);
  });
  return Object.freeze(value.map((entry: string) => path.resolve(entry)));
}

function checkNbd(value: unknown, fail: Fail): HubConfig['ports'] | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(['nbd'], 'nbd must be a mapping with ports: FIRST-LAST');
  for (const key of Object.keys(value)) if (key !== 'ports') fail(['nbd', key], `unknown key 'nbd.${key}' (known: ports)`, 'key');
  const text = (value as { ports?: unknown }).ports;
  if (text === undefined) return undefined;
  const match = typeof text === 'string' ? /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text) : null;
  const first = Number(match?.[1]);
  const last = Number(match?.[2]);
  if (!match || first < 1 || last > 65535 || first > last) return fail(['nbd', 'ports'], `nbd.ports must be FIRST-LAST within 1-65535, first <= last (got ${JSON.stringify(text)})`);
  return Object.freeze({ first, last });
}

// "1.5GiB", "800MiB", "2G", or a number of bytes.
export function parseMemory(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? Math.floor(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  return match && unit !== undefined ? Math.floor(Number(match[1]) * unit) : undefined;
}
