// vcsim built once per machine (test/support/vcsim-build.ts): test files that start at once build
// it once (the others wait for that build), and a lock left by a test file that died is taken away.
// A fresh cache folder for the binary; Go's build cache is the machine's, so the build is a link.

import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidExists } from './processes.js';
import { buildVcsim, vcsimPlace } from './vcsim-build.js';
import { vcsimMissing } from './vcsim.js';

const machineCache = path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'sendense-run');
let cache = '';
const saved = process.env.XDG_CACHE_HOME;
beforeEach(() => {
  cache = mkdtempSync(path.join(tmpdir(), 'sendense-vcsim-cache-'));
  mkdirSync(path.join(cache, 'sendense-run'));
  mkdirSync(path.join(machineCache, 'go-build'), { recursive: true });
  symlinkSync(path.join(machineCache, 'go-build'), path.join(cache, 'sendense-run', 'go-build'));
  process.env.XDG_CACHE_HOME = cache;
});
afterEach(() => {
  if (saved === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = saved;
  rmSync(cache, { recursive: true, force: true });
});

// PIDs of the `go build` processes this test process started that write into `dir`.
function goBuildsInto(dir: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) return false;
        const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
        return argv[1] === 'build' && argv.some((arg) => arg.startsWith(dir));
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe.skipIf(vcsimMissing() !== undefined)('vcsim built once per machine', () => {
  it('two test files asking at once get one build, and the same binary', { timeout: 0 }, async () => {
    const builds = new Set<number>();
    const look = setInterval(() => goBuildsInto(cache).forEach((pid) => builds.add(pid)), 100);
    try {
      const [a, b] = await Promise.all([buildVcsim(), buildVcsim()]);
      expect(b).toBe(a);
      expect(a).toBe(vcsimPlace().binary);
      expect(a.startsWith(cache)).toBe(true);
    } finally {
      clearInterval(look);
    }
    expect(builds.size).toBe(1);
    // It runs (its flags' help), and no lock or temp dir is left beside it.
    expect(spawnSync(vcsimPlace().binary, ['-h'], { encoding: 'utf8' }).stderr).toContain('-disks');
    expect(readdirSync(path.join(cache, 'sendense-run')).sort()).toEqual(['go-build', path.basename(vcsimPlace().dir)]);
  });

  it('a lock left by a test file that died is taken away, and the binary built', { timeout: 0 }, async () => {
    const dead = spawnSync('true').pid!;
    expect(pidExists(dead)).toBe(false);
    const lock = `${vcsimPlace().dir}.lock`;
    mkdirSync(lock);
    writeFileSync(path.join(lock, 'pid'), String(dead));
    expect(existsSync(await buildVcsim())).toBe(true);
    expect(existsSync(lock)).toBe(false);
  });
});
