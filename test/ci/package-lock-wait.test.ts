// scripts/setup.sh beside another installer (scripts/package-lock-wait.sh): while a process holds
// dpkg's lock-frontend, as unattended upgrades does on a fresh machine, setup waits and says which
// lock and which process, goes on once it is released, and gives up at its bound naming the holder.
// The lock is the real /var/lib/dpkg/lock-frontend, held with fcntl as apt-get holds it, by a child
// that lets go when the test stops it or its stdin closes: dpkg's own state is never touched.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const LOCK = '/var/lib/dpkg/lock-frontend';
const SCRIPT = path.resolve('scripts/package-lock-wait.sh');
// Taking the real lock needs root (the file is root's, mode 0640), as installing does.
const canLock = (() => {
  try {
    accessSync(LOCK, constants.W_OK);
    return true;
  } catch {
    return false;
  }
})();

const holders: ChildProcess[] = [];
afterEach(() => {
  for (const holder of holders.splice(0)) if (holder.exitCode === null) holder.kill();
});

// A python3 child holding `LOCK` with lockf (fcntl, as dpkg and apt take it) until stopped; resolves
// once it holds it. It lets go on SIGTERM or when its stdin (this test) goes away.
function holdLock(): Promise<ChildProcess> {
  const holder = spawn(
    'python3',
    [
      '-c',
      `import fcntl, sys\nf = open(${JSON.stringify(LOCK)}, 'r+')\nfcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nprint('held', flush=True)\nsys.stdin.read()\n`,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  holders.push(holder);
  return new Promise((resolve, reject) => {
    let err = '';
    holder.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    holder.stdout!.once('data', () => resolve(holder));
    holder.once('exit', (code) => reject(new Error(`the lock holder exited (${code}) first: ${err}`)));
  });
}

// wait_for_package_locks in bash; `onLine` hears each line it prints.
function waitForLocks(limitSeconds: number, onLine: (line: string) => void = () => {}) {
  const child = spawn('bash', ['-c', `source ${JSON.stringify(SCRIPT)}; wait_for_package_locks`], {
    env: { ...process.env, SENDENSE_PACKAGE_LOCK_WAIT: String(limitSeconds) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const hear = (chunk: Buffer) => {
    output += chunk.toString();
    for (const line of chunk.toString().split('\n').filter(Boolean)) onLine(line);
  };
  child.stdout.on('data', hear);
  child.stderr.on('data', hear);
  return new Promise<{ code: number | null; output: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, output })),
  );
}

describe.skipIf(!canLock)('setup beside another installer', () => {
  it('waits while lock-frontend is held, saying which process holds it, and goes on once it is released', async () => {
    const holder = await holdLock();
    let released = false;
    const result = await waitForLocks(600, (line) => {
      // Released only once the wait has said what it waits for.
      if (!released && line.includes('waiting')) {
        released = true;
        holder.kill();
      }
    });
    expect(result.output).toContain(
      `setup: waiting up to 600 s for the package lock ${LOCK}, held by PID ${holder.pid} (python3): another installer (unattended upgrades?) is at work`,
    );
    expect(result.code, result.output).toBe(0);
  });

  it('gives up at its bound with a message naming the lock and its holder', async () => {
    const holder = await holdLock();
    const result = await waitForLocks(2);
    expect(result.code).toBe(1);
    expect(result.output).toContain(
      `setup: gave up after 2 s waiting for the package lock ${LOCK}, held by PID ${holder.pid} (python3); let it finish (or stop it) and run setup again`,
    );
  });

  it('returns at once when no installer holds a lock', async () => {
    const result = await waitForLocks(600);
    expect(result).toEqual({ code: 0, output: '' });
  });
});
