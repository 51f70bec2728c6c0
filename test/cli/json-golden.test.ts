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
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ListedPoint } from '../../src/core/list-points.js';
import { ListedReplica } from '../../src/core/list-replicas.js';
import { PlanStatus } from '../../src/core/plan-status.js';
import { HistoryRun } from '../../src/core/run-history.js';
import { Protection } from '../../src/core/set-protection.js';
import { backUpPoints } from '../retention/point-chain.js';
import { addApiToken, startApiServer } from '../support/api-server.js';
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
    // Listings show what is recorded of the files (docs/how-it-works.md#what-a-listing-reads): doctor records the loss.
    expect((await sendenseRun(['doctor', '--db', ws.db])).exitCode).toBe(0);
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
    const cli: Record<string, string> = {};
    const raw: Record<string, string> = {};
    for (const [name, args] of runs) {
      const result = await sendenseRun([...args, '--db', ws.db, '--json']);
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      const file = path.join(GOLDEN, `${name}.jsonl`);
      const output = normalise(result.stdout, ws.dir);
      if (write) writeFileSync(file, output);
      expect(output, `${args.join(' ')} --json vs ${path.relative('.', file)}`).toBe(readFileSync(file, 'utf8'));
      // Each line is what the core's schema (src/core/) declares, no field more or less.
      for (const line of result.stdout.split('\n').filter(Boolean))
        expect([...Value.Errors(SCHEMAS[args[0]!]!, JSON.parse(line))], `${args.join(' ')}: ${line}`).toEqual([]);
      cli[name] = output;
      raw[name] = result.stdout;
    }

    // The API answers the same objects (docs/api.md#one-implementation), field for field and in order.
    const token = await addApiToken(ws.db, 'golden', 'operator');
    const api = await startApiServer({ db: ws.db, plans: [path.join(ws.dir, 'build.yaml'), replicatePlan] });
    try {
      const answer = async (method: string, route: string) => {
        const reply = await api.request(method, route, { token });
        expect(reply.status, `${method} ${route}: ${reply.text}`).toBe(200);
        return reply.json<Record<string, unknown>>();
      };
      // As the CLI prints them, one a line (execa drops the last newline).
      const asLines = (items: unknown) =>
        normalise((items as unknown[]).map((item) => JSON.stringify(item)).join('\n'), ws.dir);
      expect(asLines((await answer('GET', '/api/v1/backups')).backups)).toBe(cli.backups);
      expect(asLines((await answer('GET', '/api/v1/backups?vm=vmg')).backups)).toBe(cli['backups-vm']);
      expect(asLines((await answer('GET', '/api/v1/history')).runs)).toBe(cli.history);
      expect(asLines((await answer('GET', '/api/v1/history?limit=2')).runs)).toBe(cli['history-limit']);
      expect(asLines((await answer('GET', '/api/v1/replicas')).replicas)).toBe(cli.replicas);
      expect(asLines((await answer('GET', '/api/v1/replicas?plan=vmg-replica')).replicas)).toBe(cli['replicas-plan']);
      // The served plans in the server's order: each line as status --json prints it.
      const served = ((await answer('GET', '/api/v1/status')).plans as unknown[]).map((plan) => asLines([plan]));
      expect(served.sort()).toEqual(
        raw
          .status!.split('\n')
          .map((line) => normalise(line, ws.dir))
          .sort(),
      );
      expect(asLines([await answer('POST', `/api/v1/backups/${full}/protect`)])).toBe(cli.protect);
      expect(asLines([await answer('POST', `/api/v1/backups/${full}/unprotect`)])).toBe(cli.unprotect);
    } finally {
      await api.stop();
    }
  });
});

// The core's answer each command prints a line of.
const SCHEMAS: Record<string, TSchema> = {
  backups: ListedPoint,
  history: HistoryRun,
  status: PlanStatus,
  replicas: ListedReplica,
  protect: Protection,
  unprotect: Protection,
};
