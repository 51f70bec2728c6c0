// What the copy-retention tests (./copy-retention.test.ts, ./copy-retention-more.test.ts) check a
// copy with: its points, and every one of them restored exactly from the copy alone.

import path from 'node:path';
import { expect } from 'vitest';
import { restoredDifference, writeRestorePlan } from '../restore/restore-plan.js';
import type { PointChain } from '../retention/point-chain.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { filesUnder } from './copy-support.js';

// Ids sorted as text: two points taken in one second sort by their random tail, not their order.
export const sorted = (ids: readonly string[]): string[] => [...ids].sort();

// The points on the copy, by their manifests (every disk has one), sorted as text.
export function copyPoints(offsite: string, vm: string): string[] {
  const ids = filesUnder(path.join(offsite, vm))
    .filter((file) => file.startsWith('disk-2000/') && file.endsWith('.json'))
    .map((file) => path.basename(file, '.json'));
  return ids.sort();
}

// From the copy alone: a database of its own, verify, and every point restored exactly.
// dir: the test's scratch folder (databases and restored files); ports: the file's NBD ports.
export async function expectCopyExact(
  dir: string,
  ports: readonly [number, number],
  chain: PointChain,
  offsite: string,
  label: string,
): Promise<void> {
  const copyDb = path.join(dir, `copy-${label}.db`);
  const imported = await sendenseRun(['catalog', 'import', offsite, '--db', copyDb]);
  expect(imported.exitCode, `${imported.stdout}\n${imported.stderr}`).toBe(0);
  const verified = await sendenseRun(['verify', '--db', copyDb]);
  expect(verified.exitCode, `${verified.stdout}\n${verified.stderr}`).toBe(0);
  expect(verified.stdout).toContain('no damage found');
  for (const id of copyPoints(offsite, chain.vm)) {
    const restorePlan = writeRestorePlan(dir, {
      name: `from-copy-${label}-${id}`,
      vm: chain.vm,
      repository: offsite,
      ports,
      point: id,
      target: { type: 'file', path: path.join(dir, `restored-${label}-${id}-{key}.qcow2`), format: 'qcow2' },
    });
    const restored = await sendenseRun([restorePlan, '--db', copyDb]);
    expect(restored.exitCode, `${restored.stdout}\n${restored.stderr}`).toBe(0);
    for (const disk of chain.disks) {
      expect(
        restoredDifference(
          chain.copies[id]![disk.key]!,
          path.join(dir, `restored-${label}-${id}-${disk.key}.qcow2`),
          'qcow2',
        ),
        `${label}: point ${id} disk ${disk.key}`,
      ).toBe('');
    }
  }
}
