// The npm package (docs/operations.md#the-npm-package): `npm pack` of the checkout, installed with
// `npm install -g --prefix` into a temporary prefix, runs every command from its own files. One
// package is packed and installed for the whole file. better-sqlite3 12 (loaded on Node.js 20)
// comes as a networked install gets it, a prebuilt binary (prebuild-install downloads one from its
// GitHub releases): here, with no route there, from a local prebuild made of the checkout's own
// (prebuild-install's local prebuilds); compiling SQLite instead took 120 s of this file's 130.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import {
  backUpAndRestore,
  CHECKOUT,
  CLEAN_PATH,
  packPackage,
  runInstalled,
  type PackedPackage,
} from './installed-cli.js';

const ws = useRunWorkspace('npm-package-', { per: 'file' });
const ports = portRangeForTestFile(8);

let packed: PackedPackage;
let prefix: string;
let bin: string;
let installedRoot: string;

beforeAll(async () => {
  packed = await packPackage(ws.dir);
  prefix = path.join(ws.dir, 'prefix');
  const prebuilds = localPrebuilds(path.join(ws.dir, 'prebuilds'));
  const started = performance.now();
  // --prefer-offline: tarballs from npm's cache (npm ci fetched them); only metadata it lacks is asked for.
  await execa(
    'npm',
    [
      'install',
      '-g',
      '--prefix',
      prefix,
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--allow-scripts=better-sqlite3,ssh2,cpu-features',
      packed.file,
    ],
    {
      cwd: ws.dir,
      env: { PATH: CLEAN_PATH, npm_config_better_sqlite3_local_prebuilds: prebuilds },
    },
  );
  console.log(
    `npm package: ${packed.size} B packed, ${packed.unpackedSize} B unpacked, ${packed.files.length} files; installed in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  bin = path.join(prefix, 'bin', 'sendense-run');
  installedRoot = path.join(prefix, 'lib', 'node_modules', 'sendense-run');
}, 600_000);

// A folder holding better-sqlite3's binary for this Node.js as prebuild-install names its downloads
// ({name}-v{version}-node-v{abi}-{platform}-{arch}.tar.gz, build/Release/ inside), made of the
// checkout's compiled one. A package that resolves another version finds none there and compiles.
function localPrebuilds(dir: string): string {
  const addon = path.join(CHECKOUT, 'node_modules', 'better-sqlite3');
  const { version } = JSON.parse(readFileSync(path.join(addon, 'package.json'), 'utf8')) as { version: string };
  mkdirSync(dir);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  if (existsSync(path.join(addon, 'build', 'Release', 'better_sqlite3.node'))) {
    execFileSync('tar', ['-czf', path.join(dir, name), '-C', addon, 'build/Release/better_sqlite3.node']);
  }
  return dir;
}

describe('the npm package', () => {
  it('holds the bundles, schema, runners and docs, and nothing of the checkout besides', () => {
    for (const file of [
      'bin/sendense-run.js',
      'dist/cli/main.js',
      // The FAT walker runs as a process of its own (src/files/fast/fat-reader.ts).
      'dist/cli/fat-walker.js',
      'dist/plan-schema-validator.cjs',
      'dist/console/index.html',
      'runners/dist/sendense-transfer.mjs',
      'runners/files-receiver.cjs',
      'runners/guestfs-agent.pl',
      'schemas/plan.schema.json',
      'docs/commands.md',
      'examples/backup-full.yaml',
    ]) {
      expect(packed.files, file).toContain(file);
    }
    // The worktree's node_modules may be a symlink: npm must not follow it into the package.
    expect(
      packed.files.filter(
        (file) => /^(node_modules|src|test|scripts|dist\/src|bench)\//.test(file) || file.endsWith('.map'),
      ),
    ).toEqual([]);
  });

  it('installs a bin that runs from the prefix, with its schema inside the installed package', async () => {
    const version = await runInstalled(bin, ['--version'], ws.dir);
    expect(version.stdout).toMatch(/^sendense-run \d+\.\d+\.\d+ \(Node\.js /);
    expect(realpathSync(bin)).toBe(realpathSync(path.join(installedRoot, 'bin', 'sendense-run.js')));

    const schema = await runInstalled(bin, ['schema', '--path'], ws.dir);
    expect(schema.exitCode, schema.stderr).toBe(0);
    expect(schema.stdout.trim()).toBe(path.join(installedRoot, 'schemas', 'plan.schema.json'));
    expect(existsSync(schema.stdout.trim())).toBe(true);
  });

  it('validates a shipped example plan', async () => {
    const result = await runInstalled(
      bin,
      ['validate', path.join(installedRoot, 'examples', 'backup-full.yaml')],
      ws.dir,
    );
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  });

  it(
    'backs up a qcow2 (full, incremental) and restores it, with no checkout on the PATH',
    { timeout: 300_000 },
    async () => {
      const dir = path.join(ws.dir, 'round-trip');
      mkdirSync(dir);
      await backUpAndRestore(bin, dir, ws.db, ports);
    },
  );
});
