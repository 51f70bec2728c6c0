// The campaign's `replicate` mode: a `kind: replicate` plan of the campaign's VM (its qemu source)
// to a replica over SSH (the campaign's own sshd on 127.0.0.1), 3 points kept, a replica domain
// defined from `replica.definition` on this host's libvirtd (started when none answers, as the
// tests start it). Operations `replicate-sync` (kill-run, kill-child) and `failover-test`
// (kill-run; without a fault it is ended by SIGINT once its domain runs). After each (and doctor
// when it was faulted): `replicas --verify` exits 0; every complete point reads (its layer with its
// backing chain) exactly as the source read when its sync began; replica.path is the newest point;
// no test domain, overlay, sync socket directory, SSH session or stray file is left
// (docs/replication.md).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle } from '../support/bundle.js';
import { startSshd } from './sshd.js';
import { DISK_KEY, VM, portRange, sha256File, sourceDigest, writeSource } from './workspace.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const VIRSH = ['-c', 'qemu:///system'];

// The mode's draw: syncs (kill-run, kill-child) and failover tests (kill-run); pg-restart with postgres.
export function replicateTables(mode, operations, faults) {
  operations['replicate-sync'] = 5;
  operations['failover-test'] = 2;
  faults['replicate-sync'] = ['kill-run', 'kill-run', 'kill-child', 'kill-child'];
  faults['failover-test'] = ['kill-run'];
  if (mode.has('postgres')) faults['replicate-sync'].push('pg-restart');
}

function virsh(...args) {
  const result = spawnSync('virsh', [...VIRSH, ...args], { encoding: 'utf8' });
  return { status: result.status ?? 1, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

export class ReplicateMode {
  // `campaign`: { cli(args, fault, db, watch), violation(kind, detail), whyFailed(result) }.
  constructor(campaign) {
    this.campaign = campaign;
    this.sshd = undefined;
    this.libvirt = undefined; // the bundled test/support/libvirt-guest.ts (ensureLibvirtd, stopStartedLibvirtd)
    this.pointsCompared = 0;
    this.verifies = 0;
    this.tests = { ended: 0, killedStarting: 0, killedRunning: 0 };
    this.testMs = 4000; // how long the last failover test ended by SIGINT ran (ms)
    this.domains = new Set(); // replica domains defined by this campaign's plans: undefined at the end
  }

  ops() {
    return ['replicate-sync', 'failover-test'];
  }

  async start(parent) {
    if (!this.sshd) this.sshd = await startSshd(parent);
    if (!this.libvirt) {
      const out = join(root, 'bench', 'out', 'campaign-libvirt-guest.mjs');
      mkdirSync(dirname(out), { recursive: true });
      // Its own user of libvirtd, even under a vitest worker (which would make the worker's run the owner).
      delete process.env.VITEST_WORKER_ID;
      this.libvirt = await import(
        await bundle(join(root, 'test/support/libvirt-guest.ts'), out, { packages: 'external' })
      );
      this.libvirt.ensureLibvirtd();
    }
  }

  // The replicate plan; the workspace made traversable (0755) for the test domain's QEMU (libvirt-qemu).
  prepare(ws) {
    chmodSync(ws.root, 0o755);
    ws.replicaDir = join(ws.root, 'replica');
    ws.replicaScratch = join(ws.root, 'rs');
    mkdirSync(ws.replicaDir, { mode: 0o755 });
    mkdirSync(ws.replicaScratch, { mode: 0o755 });
    ws.replicaPath = join(ws.replicaDir, `${VM}-${DISK_KEY}.qcow2`);
    ws.replicaPlan = join(ws.root, 'replicate.yaml');
    ws.replicaDomain = `${basename(ws.root)}-replica`;
    ws.testDomain = `${ws.replicaDomain}-test`;
    this.domains.add(ws.replicaDomain);
    this.expected = new Map(); // replica point id -> sha256 of the source when its sync began
    this.compared = new Map(); // point id -> chain signature when it last read equal
    this.syncDigest = undefined; // the source's digest when the last sync began
    this.syncs = 0;
    const { sshd } = this;
    writeFileSync(
      ws.replicaPlan,
      [
        'version: 1',
        'kind: replicate',
        'name: campaign-replica',
        'vm:',
        `  name: ${VM}`,
        `  source: { type: qemu, disks: [{ key: ${DISK_KEY}, path: ${ws.source}, format: qcow2 }] }`,
        'replica:',
        `  node: { host: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user}, identityFile: ${sshd.identityFile}, knownHosts: ${sshd.knownHosts} }`,
        `  path: ${join(ws.replicaDir, `${VM}-{key}.qcow2`)}`,
        '  points: 3',
        `  scratch: ${ws.replicaScratch}`,
        `  domain: ${ws.replicaDomain}`,
        '  definition: { memory: 64MiB, vcpus: 1, virtualization: qemu }',
        `nbd: { ports: ${portRange()} }`,
        '',
      ].join('\n'),
    );
  }

  // The workspace's domains go with it (a test domain a failed check left, the replica domain).
  dispose(ws) {
    if (!ws.replicaDomain) return;
    if (virsh('domstate', ws.testDomain).status === 0) virsh('destroy', ws.testDomain);
    if (virsh('domstate', ws.replicaDomain).status === 0) virsh('undefine', ws.replicaDomain);
    this.domains.delete(ws.replicaDomain);
  }

  // A failover test's kill: at 10-110 % of how long the last test ended by SIGINT ran, so the kills
  // spread over its life (starting, the domain running, its stop); a sync's is the campaign's.
  faultOf(step, rng) {
    if (step.op !== 'failover-test' || step.fault !== 'kill-run') return undefined;
    return { kind: 'kill-run', pick: rng.next(), delayMs: Math.round((rng.int(10, 110) / 100) * this.testMs) };
  }

  async step(step, fault, ws, rng) {
    if (step.op === 'replicate-sync') {
      writeSource(ws, rng);
      this.syncDigest = await sourceDigest(ws);
      this.syncs += 1;
      return this.campaign.cli([ws.replicaPlan], fault);
    }
    // failover-test: of a random complete point (the newest without --point); ended by SIGINT
    // 0-2 s after its domain runs, unless the fault came first.
    const points = await this.#points();
    if (points.length === 0) return undefined;
    const point = rng.chance(0.5) ? undefined : rng.pick(points);
    const stopAfterMs = rng.int(0, 2000);
    let running = false;
    const started = Date.now();
    const result = await this.campaign.cli(
      ['failover', ws.replicaPlan, '--test', ...(point ? ['--point', point.id] : [])],
      fault,
      undefined,
      (line, send) => {
        if (running || !line.includes('"type":"test-running"')) return;
        running = true;
        setTimeout(() => send('SIGINT'), stopAfterMs);
      },
    );
    if (result.signal === 'SIGKILL') this.tests[running ? 'killedRunning' : 'killedStarting'] += 1;
    else if (running) {
      this.tests.ended += 1;
      this.testMs = Date.now() - started;
    }
    // Ended by its SIGINT: exit 0 (docs/replication.md#testing-a-failover).
    return result;
  }

  // The complete points, oldest first, as `replicas --json` lists them.
  async #points() {
    const listed = await this.campaign.cli(['replicas', '--plan', 'campaign-replica']);
    if (listed.exitCode !== 0)
      throw this.campaign.violation(
        'unexpected-exit',
        `replicas: exit ${listed.exitCode}: ${this.campaign.whyFailed(listed)}`,
      );
    const plan = listed.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line))
      .find((entry) => entry.plan === 'campaign-replica');
    return [...(plan?.points ?? [])].reverse();
  }

  // After a replicate operation (and doctor when it was faulted) and at the end.
  async check(ws, step) {
    const { violation, cli, whyFailed } = this.campaign;
    for (let tries = 0; tries < 100 && this.sshd.sessions().length > 0; tries++)
      await new Promise((resolve) => setTimeout(resolve, 30));
    const sessions = this.sshd.sessions();
    if (sessions.length > 0)
      throw violation(
        'left-behind',
        `ssh sessions left on the replica node: ${sessions.map((entry) => `${entry.pid} ${entry.command.join(' ')}`).join('; ')}`,
      );
    if (virsh('domstate', ws.testDomain).status === 0)
      throw violation('left-behind', `the failover test domain ${ws.testDomain} is left`);
    const scratch = readdirSync(ws.replicaScratch);
    if (scratch.length > 0) throw violation('left-behind', `in replica.scratch: ${scratch.join(', ')}`);
    const points = await this.#points();
    // A point this campaign's syncs did not make, or a sync's point it does not know yet.
    for (const point of points) {
      if (this.expected.has(point.id)) continue;
      if (this.syncDigest === undefined)
        throw violation('unknown-point', `replica point ${point.id} appeared with no sync of this campaign`);
      this.expected.set(point.id, this.syncDigest);
    }
    const layers = new Set(points.flatMap((point) => point.disks.map((disk) => basename(disk.layer))));
    const stray = readdirSync(ws.replicaDir).filter(
      (name) =>
        name !== basename(ws.replicaPath) && !layers.has(name) && !layers.has(name.replace(/\.json$/, '.qcow2')),
    );
    if (stray.length > 0) throw violation('left-behind', `beside the replica: ${stray.join(', ')}`);
    if (points.length === 0) return;
    const verify = await cli(['replicas', '--verify', ws.replicaPlan]);
    this.verifies += 1;
    if (verify.exitCode !== 0)
      throw violation('replica-damaged', `replicas --verify: exit ${verify.exitCode}: ${whyFailed(verify)}`);
    const byId = new Map(points.map((point) => [point.id, point]));
    for (const point of points) {
      const signature = layerSignature(point, byId);
      if (this.compared.get(point.id) === signature) continue;
      const digest = await imageDigest(ws, point.disks[0].layer);
      this.pointsCompared += 1;
      if (digest !== this.expected.get(point.id))
        throw violation(
          'replica-wrong-bytes',
          `replica point ${point.id} reads other bytes than the source had when its sync began`,
        );
      this.compared.set(point.id, signature);
    }
    const newest = points.at(-1);
    if ((await imageDigest(ws, ws.replicaPath)) !== this.expected.get(newest.id))
      throw violation('replica-wrong-bytes', `replica.path does not read as the newest point ${newest.id}`);
    // A sync that succeeded made the newest point from the source as it was then.
    if (step?.op === 'replicate-sync' && step.succeeded && this.expected.get(newest.id) !== this.syncDigest)
      throw violation(
        'replica-stale',
        `a sync exited 0, yet the newest point ${newest.id} is not the source as it was`,
      );
  }

  summary() {
    return [
      `replica points compared: ${this.pointsCompared}; replicas --verify runs: ${this.verifies}; failover tests ended by SIGINT: ${this.tests.ended}, killed before their domain ran: ${this.tests.killedStarting}, killed once it ran: ${this.tests.killedRunning}`,
    ];
  }

  async stop() {
    for (const domain of this.domains) if (virsh('domstate', domain).status === 0) virsh('undefine', domain);
    this.domains.clear();
    await this.sshd?.stop();
    this.sshd = undefined;
    this.libvirt?.stopStartedLibvirtd();
    this.libvirt = undefined;
  }

  killNow() {
    for (const domain of this.domains) {
      virsh('destroy', `${domain}-test`);
      virsh('undefine', domain);
    }
    this.sshd?.killNow();
    this.libvirt?.stopStartedLibvirtd();
  }
}

// What changes when a point's bytes may have changed: its layer and those under it (a fold, a rewrite).
function layerSignature(point, byId) {
  const files = [];
  for (let at = point; at !== undefined; at = at.parentId ? byId.get(at.parentId) : undefined)
    files.push(...at.disks.map((disk) => disk.layer));
  return files
    .map((file) => {
      try {
        const info = statSync(file);
        return `${file}:${info.ino}:${info.size}:${info.mtimeMs}`;
      } catch {
        return `${file}:missing`;
      }
    })
    .join('|');
}

// sha256 of an image's guest bytes (through its backing chain).
async function imageDigest(ws, image) {
  const raw = join(ws.restores, 'replica.raw');
  execFileSync('qemu-img', ['convert', '-U', '-O', 'raw', image, raw]);
  try {
    return await sha256File(raw);
  } finally {
    rmSync(raw, { force: true });
  }
}
