// A libguestfs agent never outlives the process that started it (docs/file-level-restore.md#an-appliance-never-outlives-its-command):
// killed with kill -9 while its appliance is blocked for ever (writing into a FIFO nobody will
// open, as a download is when the API server dies before its reader opened), the agent and its
// appliance are gone. This is what a kill -9 of the API server mid-download once left behind.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { descendantPids } from '../support/process-tree.js';
import { identify, killIfAlive, waitForProcessGone, type ProcessIdentity } from '../support/processes.js';

const FIXTURE = path.resolve('test/files/fixtures/appliance-blocked.mjs');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

it('kill -9 of the process mid-call: its agent and appliance end, not orphaned', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sendense-lifeline-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const owner = spawn(process.execPath, [FIXTURE, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  owner.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const noted: ProcessIdentity[] = [];
  cleanups.push(() => {
    owner.kill('SIGKILL');
    for (const target of noted) killIfAlive(target);
  });
  const agentPid = await new Promise<number>((resolve, reject) => {
    let out = '';
    owner.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    owner.once('exit', (code) => reject(new Error(`the fixture ended (${code}) before its appliance started: ${err}`)));
  });
  // The agent, its watchdog, libguestfs's recovery process and the appliance's QEMU.
  const tree = [agentPid, ...descendantPids(agentPid)];
  for (const pid of tree) {
    const identity = identify(pid);
    if (identity !== undefined) noted.push(identity);
  }
  expect(tree.length).toBeGreaterThanOrEqual(3);
  // Long enough for the agent to be inside the call, opening the FIFO.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  owner.kill('SIGKILL');
  for (const target of noted) expect(await waitForProcessGone(target.pid, undefined, target.startTicks)).toBe(true);
}, 600_000);
