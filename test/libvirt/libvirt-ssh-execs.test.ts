// What a live incremental of a libvirt domain through an SSH node costs in commands on the node:
// each command is one SSH session (and, on a real node, one start of the user's shell and its
// rc files), so a step's libvirt work is sent as one node-side program, not a `virsh` call per
// fact (docs/how-it-works.md#libvirt-domains). Counted with a `sh` first on the node's PATH that
// notes each command our wrapper starts.

import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuest, type TestGuest } from '../support/libvirt-guest.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { startSshd, type TestSshd } from '../support/sshd.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { PID_MARKER } from '../../src/node/remote-command.js';
import { writeLibvirtPlan } from './libvirt-plans.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-ssh-execs-', { per: 'file' });
let guest: TestGuest;
let sshd: TestSshd;
let bin: string;
let plan: string;
const log = () => path.join(bin, 'commands.log');

beforeAll(async () => {
  bin = mkdtempSync(path.join(tmpdir(), 'sendense-execs-bin-'));
  // Only the wrapper's own start is noted (its script carries the PID marker), not the shells it runs;
  // one line a command, a script of many lines included.
  writeFileSync(
    path.join(bin, 'sh'),
    `#!/bin/sh\ncase "$2" in *${PID_MARKER}*) (shift 2; printf '%s' "$*" | tr '\\n' ' '; echo) | cut -c1-100 >>'${log()}' ;; esac\nexec /bin/sh "$@"\n`,
  );
  chmodSync(path.join(bin, 'sh'), 0o755);
  [guest, sshd] = await Promise.all([startGuest({ name: 'execs' }), startSshd({ pathFirst: [bin] })]);
  const scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  plan = writeLibvirtPlan(ws.dir, {
    name: 'execs',
    vm: 'execsvm',
    domain: guest.name,
    ports,
    scratch,
    repository: ws.repository,
    node: {
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      identityFile: sshd.identityFile,
      knownHosts: sshd.knownHosts,
    },
  });
}, 180_000);
afterAll(async () => {
  guest?.remove();
  await sshd?.stop();
  if (bin) rmSync(bin, { recursive: true, force: true });
});

const commands = (): string[] => readFileSync(log(), 'utf8').split('\n').filter(Boolean);

describe('a live incremental through an SSH node', () => {
  it('runs a bounded number of commands on the node, not one per libvirt fact', async () => {
    const full = await sendenseRun([plan, '--db', ws.db]);
    expect(full.exitCode, `${full.stdout}\n${full.stderr}`).toBe(0);
    writeFileSync(log(), '');
    const incremental = await sendenseRun([plan, '--db', ws.db]);
    expect(incremental.exitCode, `${incremental.stdout}\n${incremental.stderr}`).toBe(0);
    expect(incremental.stdout).toMatch(/incremental/);
    const run = commands();
    console.log(`${run.length} commands on the node:\n${run.join('\n')}`);
    expect(run.length).toBeLessThanOrEqual(12);
  });
});
