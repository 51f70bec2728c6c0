// A fast-path reader's run is bounded in time (docs/file-level-restore.md): stopped after its
// timeout without a byte of answer (a hung tool), and after 15 timeouts in all (one that drips),
// but a run that answers all along (a batch of many entries, slow on a loaded hub) goes on past
// its timeout. Real processes in the real sandbox (no reader user: run as us, no network).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runSandboxed } from '../../src/files/fast/sandbox.js';

const sandbox = { user: undefined };
const run = (script: string, timeoutMs: number) =>
  runSandboxed(['sh', '-c', script], { sandbox, timeoutMs, maxBytes: 1024 * 1024, what: 'sh reading the test' });

describe('a reader run', () => {
  it('answering all along, goes on past its timeout and gives its whole answer', async () => {
    const result = await run('for i in 1 2 3 4 5 6; do echo $i; sleep 0.3; done', 1000);
    expect(result.stdout.toString()).toBe('1\n2\n3\n4\n5\n6\n');
  });

  it('silent past its timeout, is stopped with one line saying so', async () => {
    await expect(run('echo started; exec sleep 30', 500)).rejects.toThrow(
      'sh reading the test: no answer in 0.5 s (stopped)',
    );
  });

  describe('with a child of its own', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'reader-bounds-'));
    const pidFile = path.join(dir, 'child.pid');
    // The child, even when the run under test left it (a failure): by its pid, never by name.
    afterEach(() => {
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
      if (pid > 1 && alive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(pidFile, { force: true });
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    // The shell's child (ntfscat in the NTFS reader's shells) holds the answer's pipe: a run that
    // stopped the shell alone would wait for it, here 10 minutes (the test's own timeout fails first).
    it('silent past its timeout, is stopped with that child', async () => {
      // A bound the shell starts well within, on a loaded host too: the child is there when it is stopped.
      await expect(run(`sleep 600 & echo $! > ${pidFile}; echo started; wait`, 5000)).rejects.toThrow(
        'sh reading the test: no answer in 5 s (stopped)',
      );
      const child = Number(readFileSync(pidFile, 'utf8'));
      expect(child).toBeGreaterThan(1);
      // Killed: its pipe closes as it exits, a moment before the kernel shows it gone or a zombie.
      for (let looked = 0; alive(child) && looked < 200; looked++) await new Promise((done) => setTimeout(done, 50));
      expect(alive(child)).toBe(false);
    }, 60_000);
  });

  it('dripping an answer for more than 15 timeouts, is stopped', async () => {
    await expect(run('while :; do echo drip; sleep 0.1; done', 1000)).rejects.toThrow(
      'sh reading the test: still answering after 15 s (stopped)',
    );
  });
});

// The hub killed outright while a reader's shell waits on its child (an ntfscat hung on a crafted
// filesystem): pdeathsig kills the shell, and the child, in the reader's own PID namespace, with it.
// As root only: a reader runs as a uid of its own, in namespaces of its own, only when we are root.
describe.skipIf(process.getuid?.() !== 0)('a reader whose hub is killed outright', () => {
  let child = 0;
  afterEach(() => {
    if (child > 1 && alive(child)) process.kill(child, 'SIGKILL');
  });

  it('ends with everything it started', async () => {
    // A duration no other process uses, to find the child by (its pid in its namespace is not ours).
    const token = `${600 + (process.pid % 1000)}.${Date.now() % 1000}`;
    const hub = spawn(process.execPath, ['test/files/fixtures/reader-hub.mjs', '65534', token], { stdio: 'ignore' });
    try {
      for (let looked = 0; child === 0 && looked < 600; looked++) {
        child = sleepingFor(token);
        if (child === 0) await new Promise((done) => setTimeout(done, 50));
      }
      expect(child, 'the reader started its child').toBeGreaterThan(1);
      expect(readFileSync(`/proc/${child}/status`, 'utf8')).toMatch(/^Uid:\s+65534\s/m);
    } finally {
      hub.kill('SIGKILL');
    }
    for (let looked = 0; alive(child) && looked < 200; looked++) await new Promise((done) => setTimeout(done, 50));
    expect(alive(child), `sleep ${token} (pid ${child}) after its hub was killed`).toBe(false);
  }, 60_000);
});

// The pid of the process running `sleep TOKEN`, or 0.
function sleepingFor(token: string): number {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8') === `sleep\0${token}\0`) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  return 0;
}

// A process that is gone, or a zombie (killed, not yet reaped by whoever inherited it).
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
