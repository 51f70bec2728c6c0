// Ids that sort by creation time and read well in file names: 20250101T020000Z-1a2b3c.

import { randomBytes } from 'node:crypto';

export function newId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export function nowIso(): string {
  return new Date().toISOString();
}
