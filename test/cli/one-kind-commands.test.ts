// The commands made for one kind's plans (docs/how-it-works.md#plan-kinds) ask the plan's kind for
// a capability by name: a plan whose kind, or whose copy's target, offers none is refused in one
// line naming the file and its kind, exit 2, before the state database is touched.

import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, type CliResult } from '../support/sendense-cli.js';

const ws = useRunWorkspace('sendense-one-kind-', { per: 'file' });

// The plans, written in the workspace: kind and blocks as the schema wants them, nothing reached.
function writePlans(): Record<'backup' | 'keep' | 'replicate' | 'dirCopy', string> {
  const source = { type: 'qemu', disks: [{ key: 2000, path: path.join(ws.dir, 'disk.qcow2') }] };
  const repository = { path: ws.repository };
  const plans = {
    backup: { kind: 'backup', name: 'b1', vm: { name: 'vm1', source }, repository },
    keep: { kind: 'incremental', name: 'k1', vm: { name: 'vm1', source }, repository, retention: { keepLast: 2 } },
    replicate: {
      kind: 'replicate',
      name: 'r1',
      vm: { name: 'vm1', source },
      replica: { path: path.join(ws.dir, 'replica-{key}.qcow2') },
    },
    dirCopy: { kind: 'copy', name: 'c1', repository, copy: { to: { type: 'dir', path: path.join(ws.dir, 'copy') } } },
  };
  return Object.fromEntries(
    Object.entries(plans).map(([name, plan]) => {
      const file = path.join(ws.dir, `${name}.yaml`);
      writeFileSync(file, stringify({ version: 1, ...plan }));
      return [name, file];
    }),
  ) as Record<keyof typeof plans, string>;
}

// One line on stderr, no stack, exit 2; no state database made.
function expectRefused(result: CliResult, line: string): void {
  expect(result, result.stderr).toMatchObject({ exitCode: 2, stdout: '', stderr: `sendense-run: ${line}` });
  expect(existsSync(ws.db)).toBe(false);
}

describe('one-kind commands', () => {
  it('failover, failback and replicas --verify refuse a plan whose kind keeps no replica', async () => {
    const { backup, dirCopy } = writePlans();
    for (const command of [['failover'], ['failback'], ['replicas', '--verify']]) {
      expectRefused(
        await sendenseRun([...command, backup, '--db', ws.db]),
        `${command.join(' ')} takes a replicate plan: ${backup} is a backup plan`,
      );
    }
    expectRefused(
      await sendenseRun(['failback', dirCopy, '--db', ws.db]),
      `failback takes a replicate plan: ${dirCopy} is a copy plan`,
    );
  });

  it("prune refuses a plan whose kind takes no chains, and a backup plan without keep-* rules; retire one that is not a libvirt domain's backup", async () => {
    const { backup, keep, replicate } = writePlans();
    const none =
      'prune applies keep-* retention rules (retention.keepLast/keepHourly/keepDaily/keepWeekly/keepMonthly/keepYearly); this plan has none';
    for (const plan of [replicate, backup])
      expectRefused(await sendenseRun(['prune', plan, '--db', ws.db]), `${plan}: ${none}`);
    const retire = 'retire takes a backup plan of a libvirt domain (kind backup or incremental, source.type libvirt)';
    expectRefused(
      await sendenseRun(['retire', replicate, '--db', ws.db]),
      `${replicate}: ${retire}; this is a replicate plan of a qemu source`,
    );
    expectRefused(
      await sendenseRun(['retire', keep, '--db', ws.db]),
      `${keep}: ${retire}; this is a incremental plan of a qemu source`,
    );
  });

  it('fetch refuses a plan whose kind makes no copy, and a copy whose target is not a bucket', async () => {
    const { backup, dirCopy } = writePlans();
    const into = path.join(ws.dir, 'fetched');
    for (const plan of [backup, dirCopy]) {
      expectRefused(
        await sendenseRun(['fetch', plan, into, '--db', ws.db]),
        `${plan}: fetch reads a copy plan's s3 copy; this plan is not one`,
      );
    }
    expect(existsSync(into)).toBe(false);
  });
});
