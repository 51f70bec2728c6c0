// Restore plans for end-to-end tests, written as YAML files the real CLI runs, and the checks a
// user would make on what a restore produced.

import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { sha256 } from '../support/vm-disks.js';

export type RestoreTarget =
  | {
      readonly type: 'file';
      readonly path: string;
      readonly format: 'qcow2' | 'raw';
      readonly overwrite?: boolean;
      readonly mode?: string;
    }
  | { readonly type: 'nbd'; readonly url: string }
  | {
      readonly type: 'domain';
      readonly domain: string;
      readonly path: string;
      readonly start?: boolean;
      readonly network?: 'none' | 'keep';
    };

export interface TestRestorePlan {
  readonly name: string;
  readonly vm: string;
  readonly repository: string;
  /** Inclusive port range for the run's qemu-nbd leases. */
  readonly ports: readonly [number, number];
  readonly point: string;
  readonly disks?: readonly number[];
  readonly target: RestoreTarget;
  readonly verify?: boolean;
  /** The plan's rate, e.g. '64MiB/s' (docs/bandwidth.md). */
  readonly rate?: string;
  /** The plan's `node:` block (test/ssh/ssh-node.ts nodeBlock): the target is on that node. */
  readonly node?: object;
}

// Writes the plan as <dir>/<name>.yaml and returns its path.
export function writeRestorePlan(dir: string, plan: TestRestorePlan): string {
  const doc = {
    version: 1,
    kind: 'restore',
    name: plan.name,
    vm: { name: plan.vm },
    ...(plan.node ? { node: { ...plan.node } } : {}),
    repository: { path: plan.repository },
    nbd: { ports: `${plan.ports[0]}-${plan.ports[1]}` },
    restore: {
      point: plan.point,
      ...(plan.disks ? { disks: [...plan.disks] } : {}),
      target: { ...plan.target },
      verify: plan.verify ?? true,
    },
    ...(plan.rate ? { rate: plan.rate } : {}),
  };
  const file = path.join(dir, `${plan.name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

// '' when the restored image shows the same guest bytes as the kept source copy, else why not.
export function restoredDifference(copy: string, restored: string, restoredFormat: 'qcow2' | 'raw'): string {
  const result = spawnSync('qemu-img', ['compare', '-f', 'qcow2', '-F', restoredFormat, copy, restored], {
    encoding: 'utf8',
  });
  return result.status === 0 ? '' : `${result.stdout}${result.stderr}`.trim() || `exit ${result.status}`;
}

// sha256 of a qcow2 copy's guest bytes, through `qemu-img convert -O raw` into a scratch file.
export function rawSha256(copy: string, scratch: string): string {
  execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', copy, scratch]);
  try {
    return sha256(scratch);
  } finally {
    rmSync(scratch, { force: true });
  }
}
