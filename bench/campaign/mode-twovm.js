// The campaign's `twovm` mode: a second VM (`cvm2`) with two disks (2000 and 2001, qcow2 sources of
// 16 MiB each), its own incremental plan (`campaign2`: a full every 3 points, the newest 3 kept) in
// the same repository as the first VM. Operations: `vm2-backup` (both disks written first; kill-run,
// kill-child), `vm2-prune` (kill-run), and `vm2-pair`: a backup of cvm2 started together with a
// backup, prune or verify of the first VM (different VMs run at once: both must succeed), the fault
// on either. After every step of the campaign, whichever VM it was about: no point of cvm2 went
// during an operation of the first VM (nor of its doctor), and every point of cvm2 whose chain
// changed restores, both disks, to the bytes both sources had when it was taken (a point in time
// across disks).
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chainSignature } from './state-checks.js';
import { portRange, repositoryLine, sha256File } from './workspace.js';

const VM2 = 'cvm2';
const KEYS = [2000, 2001];
const BYTES = 16 * 1024 * 1024;
const OWN_OPS = ['vm2-backup', 'vm2-prune', 'vm2-pair'];

export function twoVmTables(mode, operations, faults) {
  operations['vm2-backup'] = 3;
  operations['vm2-prune'] = 1;
  operations['vm2-pair'] = 3;
  faults['vm2-backup'] = ['kill-run', 'kill-run', 'kill-child'];
  faults['vm2-prune'] = ['kill-run'];
  faults['vm2-pair'] = ['kill-run', 'kill-child'];
  if (mode.has('postgres')) faults['vm2-backup'].push('pg-restart');
}

export class TwoVmMode {
  // `campaign`: { cli(args, fault, db, watch), violation(kind, detail), whyFailed(result) }.
  constructor(campaign) {
    this.campaign = campaign;
    this.pointsCompared = 0;
    this.pairs = 0;
  }

  ops() {
    return OWN_OPS;
  }

  // vm2-pair runs a backup of the first VM too: its new points are of its source as it is now.
  takesPoints(op) {
    return op === 'vm2-pair';
  }

  // Points of the first VM a vm2-pair's prune or backup (retention) may remove.
  removesPoints(op) {
    return op === 'vm2-pair';
  }

  async start() {}

  // Its faults are the campaign's own kinds (kill-run, kill-child, pg-restart), timed as for any run.
  faultOf() {
    return undefined;
  }

  async stop() {}

  prepare(ws) {
    ws.vm2 = {
      sources: Object.fromEntries(KEYS.map((key) => [key, join(ws.root, `vm2-${key}.qcow2`)])),
      plan: join(ws.root, 'backup2.yaml'),
      restorePlan: join(ws.root, 'restore2.yaml'),
    };
    for (const key of KEYS)
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', ws.vm2.sources[key], String(BYTES)]);
    writeFileSync(
      ws.vm2.plan,
      [
        'version: 1',
        'kind: incremental',
        'name: campaign2',
        'vm:',
        `  name: ${VM2}`,
        '  source:',
        '    type: qemu',
        '    disks:',
        ...KEYS.map((key) => `      - { key: ${key}, path: ${ws.vm2.sources[key]} }`),
        repositoryLine(ws),
        `nbd: { ports: ${portRange()} }`,
        'incremental: { maxChainLength: 3 }',
        'retention: { keepLast: 3 }',
        '',
      ].join('\n'),
    );
    this.expected = new Map(); // point id -> { key: sha256 of that disk's bytes when it was taken }
    this.compared = new Map(); // point id -> chain signature when it last restored equal
    this.known = new Set(); // cvm2's points after the last step
  }

  async step(step, fault, ws, rng) {
    if (step.op === 'vm2-prune') return this.campaign.cli(['prune', ws.vm2.plan], fault);
    this.#write(ws, rng);
    if (step.op === 'vm2-backup') return this.campaign.cli([ws.vm2.plan], fault);
    // vm2-pair: a backup of cvm2 and an operation of the first VM at once; the fault on one of them.
    this.pairs += 1;
    const other = rng.pick(['backup', 'prune', 'verify']);
    const first = other === 'backup' ? [ws.plan] : other === 'prune' ? ['prune', ws.plan] : ['verify', ...ws.keyArgs];
    const faultOn = rng.int(0, 1);
    const results = await Promise.all([
      this.campaign.cli([ws.vm2.plan], faultOn === 0 ? fault : undefined),
      this.campaign.cli(first, faultOn === 1 ? fault : undefined),
    ]);
    const hit = results[faultOn].hit;
    const unfaulted = results[1 - faultOn];
    // verify of the first VM exits 1 when a flip damaged one of its points: an answer, not a failure.
    const answered = (result, index) =>
      result.exitCode === 0 || (index === 1 && other === 'verify' && result.exitCode === 1);
    const failed = results.findIndex((result, index) => (index !== faultOn || !hit) && !answered(result, index));
    const shown = failed === -1 ? { ...unfaulted, exitCode: 0 } : results[failed];
    return { ...shown, hit, signal: results[faultOn].signal, noted: results.flatMap((result) => result.noted ?? []) };
  }

  // Both disks of cvm2 written: data, zeroes and discards (qemu-io), each disk its own.
  #write(ws, rng) {
    for (const key of KEYS) {
      const args = ['-f', 'qcow2'];
      for (let i = rng.int(0, 3); i > 0; i--) {
        const offset = rng.int(0, (BYTES - 2 * 1024 * 1024) / 65536) * 65536;
        const length = rng.int(1, 16) * 65536;
        const kind = rng.weighted({ data: 6, zero: 1, discard: 1 });
        args.push(
          '-c',
          kind === 'data'
            ? `write -P 0x${rng.int(1, 255).toString(16)} ${offset} ${length}`
            : kind === 'zero'
              ? `write -z ${offset} ${length}`
              : `discard ${offset} ${length}`,
        );
      }
      if (args.length > 2) execFileSync('qemu-io', [...args, ws.vm2.sources[key]], { stdio: 'ignore' });
    }
  }

  async #digests(ws) {
    const digests = {};
    for (const key of KEYS) {
      const raw = join(ws.restores, `vm2-source-${key}.raw`);
      execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', ws.vm2.sources[key], raw]);
      try {
        digests[key] = await sha256File(raw);
      } finally {
        rmSync(raw, { force: true });
      }
    }
    return digests;
  }

  async #points() {
    const result = await this.campaign.cli(['backups', '--vm', VM2]);
    if (result.exitCode !== 0) throw new Error(`backups --vm ${VM2} failed: ${result.stderr.trim()}`);
    return result.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line));
  }

  // After every step of the campaign (and at its end: op undefined).
  async afterEveryStep(ws, op) {
    const points = await this.#points();
    const now = new Set(points.map((point) => point.id));
    // New points of cvm2 come only from its own backups, of the sources as they are (not written since).
    if (points.some((point) => !this.expected.has(point.id))) {
      if (op !== undefined && !OWN_OPS.includes(op) && op !== 'doctor')
        throw this.campaign.violation('unknown-point', `a point of ${VM2} appeared during ${op}`);
      const digests = await this.#digests(ws);
      for (const point of points) if (!this.expected.has(point.id)) this.expected.set(point.id, digests);
    }
    for (const id of this.known) {
      if (now.has(id)) continue;
      if (op === undefined || !OWN_OPS.includes(op))
        throw this.campaign.violation('other-vm-point-lost', `point ${id} of ${VM2} went during ${op ?? 'the end'}`);
      this.expected.delete(id);
      this.compared.delete(id);
    }
    this.known = now;
    const byId = new Map(points.map((point) => [point.id, point]));
    for (const point of points) {
      if (point.status !== 'complete' || point.damage) continue;
      const signature = chainSignature(point, byId);
      if (this.compared.get(point.id) === signature) continue;
      await this.#compare(ws, point);
      this.compared.set(point.id, signature);
    }
  }

  async #compare(ws, point) {
    const target = join(ws.restores, `vm2-${point.id}-{key}.raw`);
    writeFileSync(
      ws.vm2.restorePlan,
      [
        'version: 1',
        'kind: restore',
        'name: campaign2-restore',
        `vm: { name: ${VM2} }`,
        repositoryLine(ws),
        `nbd: { ports: ${portRange()} }`,
        'restore:',
        `  point: ${point.id}`,
        `  target: { type: file, path: "${target}", format: raw }`,
        '  verify: true',
        '',
      ].join('\n'),
    );
    const result = await this.campaign.cli([ws.vm2.restorePlan]);
    try {
      if (result.exitCode !== 0)
        throw this.campaign.violation(
          'restore-failed',
          `point ${point.id} of ${VM2}: exit ${result.exitCode}: ${this.campaign.whyFailed(result)}`,
        );
      this.pointsCompared += 1;
      const expected = this.expected.get(point.id);
      for (const key of KEYS) {
        const digest = await sha256File(target.replace('{key}', String(key)));
        if (digest !== expected[key])
          throw this.campaign.violation(
            'wrong-bytes',
            `point ${point.id} of ${VM2}: disk ${key} restored to other bytes than the source had when it was taken`,
          );
      }
    } finally {
      for (const key of KEYS) rmSync(target.replace('{key}', String(key)), { force: true });
    }
  }

  async check(ws, step) {
    if (step === undefined) await this.afterEveryStep(ws, undefined);
  }

  summary() {
    return [
      `twovm: ${VM2} points restored and compared (2 disks each): ${this.pointsCompared}; pairs across VMs: ${this.pairs}`,
    ];
  }
}
