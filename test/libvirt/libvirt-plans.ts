// libvirt backup plans for end-to-end tests, written as YAML the real CLI runs, and a point
// restored to raw files so its counters can be read.

import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { writeRestorePlan } from '../restore/restore-plan.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { restoredCounters, type Counters } from '../support/libvirt-guest.js';

export interface LibvirtTestPlan {
  readonly name: string;
  readonly vm: string;
  readonly domain: string;
  readonly repository: string;
  readonly ports: readonly [number, number];
  readonly kind?: 'backup' | 'incremental';
  readonly quiesce?: 'auto' | 'require' | 'off';
  readonly scratch?: string;
  readonly disks?: readonly { readonly key: number; readonly target: string }[];
  readonly uri?: string;
  readonly node?: Record<string, unknown>;
  readonly onMissingChain?: 'full' | 'fail';
  readonly retention?: Record<string, number>;
}

export function writeLibvirtPlan(dir: string, plan: LibvirtTestPlan): string {
  const doc = {
    version: 1,
    kind: plan.kind ?? 'incremental',
    name: plan.name,
    vm: {
      name: plan.vm,
      source: {
        type: 'libvirt',
        domain: plan.domain,
        ...(plan.uri ? { uri: plan.uri } : {}),
        ...(plan.quiesce ? { quiesce: plan.quiesce } : {}),
        ...(plan.scratch ? { scratch: plan.scratch } : {}),
        ...(plan.disks ? { disks: plan.disks.map((disk) => ({ ...disk })) } : {}),
      },
    },
    ...(plan.node ? { node: plan.node } : {}),
    repository: { path: plan.repository },
    nbd: { ports: `${plan.ports[0]}-${plan.ports[1]}` },
    ...(plan.onMissingChain ? { incremental: { onMissingChain: plan.onMissingChain } } : {}),
    ...(plan.retention ? { retention: plan.retention } : {}),
  };
  const file = path.join(dir, `${plan.name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

/** A point restored to <dir>/restored-<point>-<key>.raw: its files and counters. */
export interface RestoredPoint {
  readonly files: Readonly<Record<number, string>>;
  readonly counters: Counters;
  remove(): void;
}

// Restores `point` of the VM (disks 2000 = vda, 2001 = vdb) to raw files and reads its counters.
export async function restorePoint(
  dir: string,
  options: { vm: string; repository: string; ports: readonly [number, number]; db: string; point: string },
): Promise<RestoredPoint> {
  const target = path.join(dir, `restored-${options.point}-{key}.raw`);
  const plan = writeRestorePlan(dir, {
    name: `restore-${options.point}`,
    vm: options.vm,
    repository: options.repository,
    ports: options.ports,
    point: options.point,
    target: { type: 'file', path: target, format: 'raw' },
  });
  const result = await sendenseRun([plan, '--db', options.db]);
  if (result.exitCode !== 0) throw new Error(`restore of ${options.point} failed:\n${result.stdout}\n${result.stderr}`);
  const files = { 2000: target.replace('{key}', '2000'), 2001: target.replace('{key}', '2001') };
  return {
    files,
    counters: restoredCounters(files[2000], files[2001]),
    remove: () => Object.values(files).forEach((file) => rmSync(file, { force: true })),
  };
}

export interface RecoverTestPlan {
  readonly name: string;
  readonly vm: string;
  readonly repository: string;
  readonly ports: readonly [number, number];
  readonly domain: string;
  /** With {key}. */
  readonly storage: string;
  readonly scratch: string;
  readonly point?: string;
  readonly moveStorage?: boolean;
  readonly start?: boolean;
  /** The move's rate limit, e.g. 2MiB/s (so the guest writes before the pivot). */
  readonly rate?: string;
  /** The node the domain runs on (an SSH node's block); none: this host. */
  readonly node?: Record<string, unknown>;
  /** recover.to.changes as the plan writes them. */
  readonly changes?: Record<string, unknown>;
}

export function writeRecoverPlan(dir: string, plan: RecoverTestPlan): string {
  const doc = {
    version: 1,
    kind: 'recover',
    name: plan.name,
    vm: { name: plan.vm },
    repository: { path: plan.repository },
    nbd: { ports: `${plan.ports[0]}-${plan.ports[1]}` },
    ...(plan.rate ? { rate: plan.rate } : {}),
    recover: {
      point: plan.point ?? 'latest',
      to: {
        type: 'libvirt',
        domain: plan.domain,
        storage: plan.storage,
        scratch: plan.scratch,
        ...(plan.changes ? { changes: plan.changes } : {}),
      },
      ...(plan.start === undefined ? {} : { start: plan.start }),
      moveStorage: plan.moveStorage ?? true,
    },
    ...(plan.node ? { node: plan.node } : {}),
  };
  const file = path.join(dir, `${plan.name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}
