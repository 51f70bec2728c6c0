// vcsim built once per machine (test/support/vcsim.ts): into ~/.cache/sendense-run/vcsim-<govmomi
// version>-<hash of main.go>, under a lock so test files starting at once (vitest's workers, the
// three Node.js lines of .ci/run) build it once while the others wait. Bounded by progress, not by
// a total: the build goes on while `go build` names packages or uses CPU (a loaded machine makes
// it slower, not stuck), and is stopped after NO_PROGRESS_MS without either, saying what it was
// doing. Go's own build cache is kept beside it, so a changed main.go builds in seconds.

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { pidExists } from './processes.js';

const MAIN = path.resolve('test/support/vcsim/main.go');
// The longest the build (or a wait for another file's build) goes without progress.
export const NO_PROGRESS_MS = 300_000;
const LOOK_EVERY_MS = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function cacheRoot(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'sendense-run');
}

// Where this govmomi and this main.go's binary is (or will be).
export function vcsimPlace(): { readonly dir: string; readonly binary: string } {
  const version =
    /^Version:\s*(\S+)/m.exec(
      execFileSync('dpkg-query', ['-s', 'golang-github-vmware-govmomi-dev'], { encoding: 'utf8' }),
    )?.[1] ?? 'unknown';
  const hash = createHash('sha256').update(readFileSync(MAIN)).digest('hex').slice(0, 12);
  const dir = path.join(cacheRoot(), `vcsim-${version}-${hash}`);
  return { dir, binary: path.join(dir, 'vcsim') };
}

// The binary, built here unless another process builds it (then waited for).
export async function buildVcsim(): Promise<string> {
  const { dir, binary } = vcsimPlace();
  const lock = `${dir}.lock`;
  mkdirSync(cacheRoot(), { recursive: true });
  for (;;) {
    if (existsSync(binary)) return binary;
    try {
      mkdirSync(lock);
    } catch {
      await waitForBuilder(lock, binary);
      continue;
    }
    try {
      writeFileSync(path.join(lock, 'pid'), String(process.pid));
      if (!existsSync(binary)) await build(dir, lock);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

// Returns when the build is done, or its builder is gone (its lock then taken away); throws
// after NO_PROGRESS_MS without the builder saying it moved.
async function waitForBuilder(lock: string, binary: string): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (existsSync(binary) || !existsSync(lock)) return;
    const pid = Number(readOr(path.join(lock, 'pid'), '0'));
    // A lock whose builder died (a killed test file) is taken away; one just made has no pid yet.
    if (pid > 0 && !pidExists(pid)) {
      rmSync(lock, { recursive: true, force: true });
      return;
    }
    const moved = mtimeOr(path.join(lock, 'progress'), mtimeOr(lock, started));
    if (Date.now() - moved > NO_PROGRESS_MS)
      throw new Error(
        `waited ${Math.round((Date.now() - started) / 1000)} s for vcsim's build by PID ${pid} (another test file), ` +
          `which has not moved for ${NO_PROGRESS_MS / 1000} s; its last lines: ${lastLines(path.join(lock, 'log'))}`,
      );
    await sleep(LOOK_EVERY_MS);
  }
}

// `go build -v` into a temp dir renamed into place (whole or not at all). Progress: a new line of
// its output or more CPU time used by its processes; `lock/progress` is touched at each.
async function build(dir: string, lock: string): Promise<void> {
  const temp = mkdtempSync(`${dir}.tmp-`);
  const log = path.join(lock, 'log');
  const progress = path.join(lock, 'progress');
  writeFileSync(progress, '');
  // Its own process group: its compiler processes are counted (and stopped) with it.
  const child = spawn('go', ['build', '-v', '-o', path.join(temp, 'vcsim'), MAIN], {
    cwd: path.dirname(MAIN),
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: '/usr/share/gocode',
      GOPROXY: 'off',
      GOFLAGS: '',
      GOCACHE: path.join(cacheRoot(), 'go-build'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let moved = Date.now();
  const touch = () => {
    moved = Date.now();
    writeFileSync(progress, String(moved));
  };
  const hear = (chunk: Buffer) => {
    appendFileSync(log, chunk);
    touch();
  };
  child.stdout!.on('data', hear);
  child.stderr!.on('data', hear);
  let cpu = 0;
  let stalled = false;
  const watch = setInterval(() => {
    const now = groupCpuTicks(child.pid!);
    if (now > cpu) {
      cpu = now;
      touch();
    } else if (Date.now() - moved > NO_PROGRESS_MS) {
      stalled = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
  }, LOOK_EVERY_MS);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    if (stalled)
      throw new Error(
        `vcsim's build (go build, PID ${child.pid}) neither printed nor used CPU for ${NO_PROGRESS_MS / 1000} s and was stopped; its last lines: ${lastLines(log)}`,
      );
    if (code !== 0) throw new Error(`vcsim's build (go build) failed (exit ${code}): ${lastLines(log)}`);
    try {
      renameSync(temp, dir);
    } catch (error) {
      // Only one that was there already (built by a checkout without this lock) is no failure.
      if (!existsSync(path.join(dir, 'vcsim'))) throw error;
    }
  } finally {
    clearInterval(watch);
    rmSync(temp, { recursive: true, force: true });
  }
}

// CPU ticks used by the processes of group `pgid`, their reaped children included.
function groupCpuTicks(pgid: number): number {
  let ticks = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const text = readOr(`/proc/${name}/stat`, '');
    // Fields after the command's ')': state ppid pgrp ... utime(12th) stime cutime cstime.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) !== pgid) continue;
    ticks += [11, 12, 13, 14].reduce((sum, index) => sum + Number(fields[index] ?? 0), 0);
  }
  return ticks;
}

function readOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

function mtimeOr(file: string, fallback: number): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return fallback;
  }
}

function lastLines(log: string): string {
  const lines = readOr(log, '').trim().split('\n').slice(-5).join(' | ');
  return lines === '' ? '(none)' : lines;
}
