// docs/json-events.md: the --json of the reading commands (backups, history, status, replicas) and
// of protect/unprotect is a contract scripts read. Their output over one realistic state — a backup
// chain (full, incremental, verified, one point protected), another that lost a layer, and a
// replicate plan synced twice — is compared byte for byte with test/cli/golden/, after only what
// differs run to run (ids, times, the temp dir, pids, ages, space on disk, the host) is put as a
// <placeholder>.
// GOLDEN=write rewrites the files (only on purpose: a change of the output is a change of contract).

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { backUpPoints } from '../retention/point-chain.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const ws = useRunWorkspace('json-golden-', { per: 'file' });
const ports = portRangeForTestFile();
const GOLDEN = path.resolve('test/cli/golden');

// What varies run to run, as placeholders; ids numbered in the order they first appear.
function normalise(text: string, dir: string): string {
  const ids = new Map<string, string>();
  return text
    .replaceAll(dir, '<dir>')
    .replace(/\b\d{8}-\d{6}-[0-9a-f]{4,8}\b/g, (id) => {
      if (!ids.has(id)) ids.set(id, `<id${ids.size + 1}>`);
      return ids.get(id)!;
    })
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(
      /"(pid|seconds|ageSeconds|lagSeconds|replicaLagSeconds|onDiskBytes|repositoryBytes|queuedSeconds)":[0-9.]+/g,
      '"$1":<n>',
    )
    .replace(/"(hostname|hub)":"[^"]*"/g, '"$1":"<host>"')
    .replace(/, lag \d+:\d\d/g, ', lag <age>');
}

// A replicate plan of a qemu source to this host (docs/replication.md), synced `syncs` times.
async function replicate(syncs: number): Promise<string> {
  const disk = path.join(ws.dir, 'rsource.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
  mkdirSync(path.join(ws.dir, 'replica'));
  const plan = path.join(ws.dir, 'replicate.yaml');
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'replicate',
      name: 'vmg-replica',
      vm: { name: 'rvmg', source: { type: 'qemu', disks: [{ key: 2000, path: disk, format: 'qcow2' }] } },
      replica: { path: path.join(ws.dir, 'replica', 'rvmg-{key}.qcow2'), points: 3, scratch: ws.dir },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    }),
  );
  for (let round = 1; round <= syncs; round++) {
    execFileSync('qemu-io', ['-c', `write -P ${round} ${round}M 1M`, disk], { stdio: 'ignore' });
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  }
  return plan;
}

describe('--json of the reading commands and protect', () => {
  it('is byte for byte the golden files, but for what varies run to run', { timeout: 300_000 }, async () => {
    const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 2, 'vmg');
    const [full, incremental] = chain.ids as [string, string];
    // A second VM whose full lost a layer: neither of its points is restorable, and says why.
    const lost = path.join(ws.dir, 'lost');
    mkdirSync(lost);
    const broken = await backUpPoints(lost, ws.db, ws.repository, ports, 2, 'vmh');
    rmSync(path.join(ws.repository, 'vmh', 'disk-2001', `${broken.ids[0]}.qcow2`));
    const replicatePlan = await replicate(2);
    expect((await sendenseRun(['verify', '--vm', 'vmg', '--db', ws.db])).exitCode).toBe(0);

    // Each golden file with the command that prints it, in this order (protect changes the state).
    const runs: [string, string[]][] = [
      ['protect', ['protect', 'vmg', '--point', full]],
      ['protect-again', ['protect', 'vmg', '--point', full]],
      ['unprotect', ['unprotect', 'vmg', '--point', full]],
      ['unprotect-again', ['unprotect', 'vmg', '--point', full]],
      ['protect-incremental', ['protect', 'vmg', '--point', incremental]],
      ['backups', ['backups']],
      ['backups-vm', ['backups', '--vm', 'vmg']],
      ['backups-vm-other', ['backups', '--vm', 'nothing-here']],
      ['backups-verbose', ['backups', '--verbose']],
      ['history', ['history']],
      ['history-limit', ['history', '--limit', '2']],
      ['status', ['status', path.join(ws.dir, 'build.yaml'), replicatePlan]],
      ['replicas', ['replicas']],
      ['replicas-plan', ['replicas', '--plan', 'vmg-replica']],
    ];
    const write = process.env.GOLDEN === 'write';
    for (const [name, args] of runs) {
      const result = await sendenseRun([...args, '--db', ws.db, '--json']);
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      const file = path.join(GOLDEN, `${name}.jsonl`);
      const output = normalise(result.stdout, ws.dir);
      if (write) writeFileSync(file, output);
      expect(output, `${args.join(' ')} --json vs ${path.relative('.', file)}`).toBe(readFileSync(file, 'utf8'));
    }
  });
});
