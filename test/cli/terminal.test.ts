// The CLI on a real terminal (a tmux pane), read as a user reads it: each step with what it did,
// hook output, a failure as one line, Ctrl+C cleaning up; never a crash or a stack trace.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startNbdkit, useNbdServers } from '../support/qemu-nbd-server.js';
import { recordedProcesses } from '../support/process-tree.js';
import { pidExists } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { runStatuses } from '../support/sendense-cli.js';
import { useTerminals } from '../support/terminal.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const ws = useRunWorkspace('cli-tty-');
const terminals = useTerminals();
const servers = useNbdServers();
const ports = portRangeForTestFile();

// A Node stack frame, as printed by an uncaught error.
const STACK = /^\s+at .+[(:]\d+/m;

function planFile(doc: Record<string, unknown>): string {
  const file = path.join(ws.dir, 'plan.yaml');
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'incremental',
      name: 'tty',
      repository: { path: ws.repository },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
      ...doc,
    }),
  );
  return file;
}

function qemuVm(diskPath: string): Record<string, unknown> {
  return { name: 'tty-vm', source: { type: 'qemu', disks: [{ key: 2000, path: diskPath, format: 'qcow2' }] } };
}

describe('on a terminal', () => {
  it('a run shows every step with what it did, the second run says it took an incremental', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 32 * 1024 * 1024);
    writeDisk(disk, ['write -P 0x11 0 4M']);
    const plan = planFile({ vm: qemuVm(disk) });

    const first = terminals.open([plan, '--db', ws.db]);
    expect(await first.exited()).toBe(0);
    const screen = first.screen();
    expect(screen).toMatch(/✔ resolve-chain: backup \S+: full, new chain/);
    expect(screen).toMatch(/✔ transfer: 1 disk, 4\.0 MiB/);
    expect(screen).toMatch(/✔ cleanup: \d+ of \d+ resources given back/);
    expect(screen).toMatch(/run \S+ succeeded in [\d.]+ s: [\d.]+ \S*B( at [\d.]+ \S*B\/s)?, backup \S+/);

    writeDisk(disk, ['write -P 0x22 8M 1M']);
    const second = terminals.open([plan, '--db', ws.db]);
    expect(await second.exited()).toBe(0);
    expect(second.screen()).toMatch(/✔ resolve-chain: backup \S+: incremental on \S+ \(chain \S+, length 2\)/);
    expect(second.screen()).toMatch(/✔ record-change-ids: 2000: /);
  });

  it('hooks that print output: the output is shown and the run succeeds (it used to crash listr2)', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 16 * 1024 * 1024);
    const plan = planFile({
      vm: qemuVm(disk),
      hooks: {
        before: [{ run: 'echo quiescing the database' }],
        after: [{ run: 'echo backup $SENDENSE_BACKUP_ID done; echo second line' }],
        always: [{ run: 'echo always: $SENDENSE_STATUS' }],
      },
    });
    const term = terminals.open([plan, '--db', ws.db]);
    expect(await term.exited()).toBe(0);
    const screen = term.screen();
    expect(screen).toContain('before| quiescing the database');
    expect(screen).toMatch(/after\| backup \S+ done\n\s+after\| second line/);
    expect(screen).toContain('always| always: succeeded');
    expect(screen).not.toContain('internal error');
    expect(screen).not.toMatch(STACK);
    expect(await runStatuses(ws.db)).toEqual(['succeeded']);
  });

  it('an early failure (a missing disk, a dead NBD source) is one line, no stack trace, exit 1', async () => {
    const cases = [
      {
        vm: qemuVm(path.join(ws.dir, 'no-such-disk.qcow2')),
        error: /cannot read image .*no-such-disk\.qcow2: no such file or directory/,
      },
      {
        vm: { name: 'tty-vm', source: { type: 'nbd', disks: [{ key: 2000, url: 'nbd://127.0.0.1:1/gone' }] } },
        error: /cannot open nbd:\/\/127\.0\.0\.1:1\/gone: .*Connection refused/,
      },
    ];
    for (const { vm, error } of cases) {
      const term = terminals.open([planFile({ kind: 'backup', vm }), '--db', ws.db]);
      expect(await term.exited()).toBe(1);
      const screen = term.screen();
      expect(screen).toMatch(/✖ resolve-chain: failed/);
      expect(screen).toMatch(/↓ transfer: not reached/);
      const last = screen.split('\n').at(-1)!;
      expect(last).toMatch(/^run \S+ failed in [\d.]+ s: step resolve-chain, disk 2000: /);
      expect(last).toMatch(error);
      expect(screen).not.toMatch(STACK);
    }
    expect(await runStatuses(ws.db)).toEqual(['failed', 'failed']);
  });

  it('Ctrl+C during the transfer: progress was shown, the run cleans up and exits 130', async () => {
    // An NBD source throttled to 2 MiB/s: the transfer is still running when Ctrl+C comes.
    const server = await startNbdkit(
      ['--filter=rate', 'data', 'data=(0x5a)*33554432', 'size=32M', 'rate=16M'],
      path.join(ws.dir, 'kit.sock'),
    );
    servers.push(server);
    const plan = planFile({
      kind: 'backup',
      vm: { name: 'tty-vm', source: { type: 'nbd', disks: [{ key: 2000, url: server.url }] } },
    });
    const term = terminals.open([plan, '--db', ws.db]);
    const progress = await term.waitFor(
      /disk 2000: [\d.]+ \w?i?B \/ 32\.0 MiB \(\d+%\), [\d.]+ \w?i?B\/s, \d+:\d\d elapsed, ETA (\d+:\d\d|\?)/,
    );
    expect(progress).toMatch(/transfer: /);
    const pids = recordedProcesses(ws.db).map((record) => record.pid);
    expect(pids.length).toBeGreaterThan(0);
    term.keys('C-c');
    expect(await term.exited()).toBe(130);
    const screen = term.screen();
    // Said on the step it stopped, above the cleanup list, not after it.
    expect(screen).toMatch(
      /✖ transfer: interrupted \(SIGINT received: stopping and cleaning up\)\n(.*\n)*.*✔ cleanup: /,
    );
    expect(screen.indexOf('SIGINT received')).toBeLessThan(screen.indexOf('cleanup: '));
    expect(screen).toMatch(/✔ cleanup: (\d+) of \1 resources given back/);
    expect(screen).toMatch(/run \S+ interrupted in [\d.]+ s: step transfer: interrupted by SIGINT/);
    expect(screen).not.toMatch(STACK);
    for (const pid of pids) expect(pidExists(pid)).toBe(false);
    expect(await runStatuses(ws.db)).toEqual(['interrupted']);
  });
});
