// Rates as plans and the hub config write them ("50MiB/s", "200MB/s") and as messages show them.

import { parseMemory } from '../format/byte-size.js';
import { formatBytes } from '../format/bytes.js';

// Bytes per second; undefined when it is not a rate of at least 1 B/s.
export function parseRate(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/\/s\s*$/.test(value)) return undefined;
  const bytes = parseMemory(value.replace(/\/s\s*$/, ''));
  return bytes !== undefined && bytes >= 1 ? bytes : undefined;
}

// "20 MiB/s", "1.5 GiB/s".
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond).replace(/\.0 /, ' ')}/s`;
}
