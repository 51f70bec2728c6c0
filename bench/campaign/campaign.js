// The campaign itself: steps (an operation, maybe with a fault) drawn from a seed, run against
// one workspace, and after each the invariants; a violation is recorded with the steps that led
// to it, and the campaign goes on in a fresh workspace. A mode (a set of: encrypted, postgres,
// copy; none is `plain`) adds operations and faults to the draw and services to the workspace.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { ClockMode, clockTables } from './mode-clock.js';
import { TwoVmMode, twoVmTables } from './mode-twovm.js';
import { LibvirtService, addLibvirtDraw } from './mode-libvirt.js';
import { PostgresServer } from './postgres.js';
import { ReplicateMode, replicateTables } from './mode-replicate.js';
import { S3Mode, s3Tables } from './mode-s3.js';
import { mulberry32 } from './prng.js';
import { runCli } from './run-cli.js';
import { startSshd } from './sshd.js';
import { chainSignature, leftovers, listBackups } from './state-checks.js';
import {
  DISK_KEY,
  KEY_POOL,
  SOURCE_BYTES,
  VM,
  createWorkspace,
  removeWorkspace,
  sha256File,
  sourceDigest,
  tmpParent,
  useKey,
  writeRestorePlan,
  writeSource,
} from './workspace.js';

const OPERATIONS = { backup: 10, prune: 2, forget: 2, protect: 2, unprotect: 1, verify: 2, restore: 2, doctor: 1 };
// The faults each operation can take (a flipped byte is a step of its own).
const FAULTS = {
  backup: ['kill-run', 'kill-run', 'kill-child', 'kill-child', 'enospc'],
  prune: ['kill-run', 'kill-run', 'enospc'],
  forget: ['kill-run'],
  verify: ['kill-run'],
  restore: ['kill-run', 'kill-child'],
};
// Operations that may legitimately remove points (retention after a backup, merges, doctor finishing
// one; the clock mode's schedule runs backups).
const REMOVES_POINTS = new Set(['backup', 'prune', 'forget', 'doctor', 'flip', 'pair', 'schedule']);

export const MODES = ['encrypted', 'postgres', 'copy', 'concurrent', 's3', 'replicate', 'libvirt', 'clock', 'twovm'];

// A run refused because another holds the VM (src/store/vm-locks.ts), or a restore refused
// because the other run's merge is still going (src/retention/unfinished-merge.ts: a restore
// never reads through a merge; docs/how-it-works.md): answers, not failures.
const BUSY =
  /two runs on one VM at once would disturb each other|has an unfinished merge .* still going: try again when it ends/;

// `plain`, or modes joined by `+` (encrypted+postgres): a Set of MODES; undefined if not one.
export function parseMode(text) {
  if (text === 'plain') return new Set();
  const parts = text.split('+');
  return parts.every((part) => MODES.includes(part)) ? new Set(parts) : undefined;
}

export function modeName(mode) {
  return mode.size === 0 ? 'plain' : MODES.filter((part) => mode.has(part)).join('+');
}

// The draw's weights and faults for a mode; plain's are the tables above, so a plain seed draws
// what it drew before modes existed.
function tables(mode) {
  const operations = { ...OPERATIONS };
  const faults = Object.fromEntries(Object.entries(FAULTS).map(([op, kinds]) => [op, [...kinds]]));
  if (mode.has('encrypted')) {
    Object.assign(operations, { 'key-add': 1, 'key-remove': 1 });
    Object.assign(faults, { 'key-add': ['kill-run'], 'key-remove': ['kill-run'] });
  }
  if (mode.has('copy')) {
    operations.copy = 3;
    faults.copy = ['kill-run', 'kill-run', 'kill-child', 'link-cut', 'link-cut', 'link-cut'];
  }
  if (mode.has('concurrent')) {
    // Two operations of the VM started together (pair): a fault hits one of them.
    operations.pair = 4;
    faults.pair = ['kill-run', 'kill-run', 'kill-child'];
  }
  // Modes of their own file (mode-*.js): their operations and faults.
  if (mode.has('s3')) s3Tables(mode, operations, faults);
  if (mode.has('replicate')) replicateTables(mode, operations, faults);
  if (mode.has('libvirt')) addLibvirtDraw(faults);
  if (mode.has('clock')) clockTables(mode, operations, faults);
  if (mode.has('twovm')) twoVmTables(mode, operations, faults);
  if (mode.has('postgres')) {
    // key add/remove use no state database.
    for (const op of ['backup', 'prune', 'forget', 'verify', 'restore', 'copy', 'pair'])
      if (faults[op]) faults[op].push('pg-restart', 'pg-restart');
    faults.doctor = ['pg-restart'];
  }
  return { operations, faults };
}

// The next step from the campaign's generator: { op, fault, seed }. faultChance: how often an
// operation that can take a fault gets one (--fault-percent; the same seed draws other steps).
export function nextStep(rng, mode = new Set(), faultChance = 0.65) {
  const { operations, faults } = tables(mode);
  if (rng.chance(0.1)) return { op: 'flip', fault: 'flip', seed: rng.seed() };
  const op = rng.weighted(operations);
  const fault = faults[op] && rng.chance(faultChance) ? rng.pick(faults[op]) : null;
  return { op, fault, seed: rng.seed() };
}

export function describeStep(step) {
  return step.fault ? `${step.op} + ${step.fault}` : step.op;
}

// The moment of a kill, from the step's own generator: the Nth --json line or a delay.
function killMoment(kind, rng) {
  const moment = rng.chance(0.6) ? { event: rng.int(1, 28) } : { delayMs: rng.int(0, 2500) };
  return { kind, pick: rng.next(), ...moment };
}

class Violation extends Error {
  constructor(kind, detail) {
    super(`${kind}: ${detail}`);
    this.kind = kind;
    this.detail = detail;
  }
}

// Services of every campaign not yet closed (PostgreSQL, sshd): killed on Ctrl+C.
const liveServices = new Set();

export function killAllServices() {
  for (const service of liveServices) service.killNow();
  liveServices.clear();
}

// The backup a run took, from its run-end line (undefined: none, or a run that took none).
function tookPoint(stdout) {
  const end = stdout
    .split('\n')
    .filter((line) => line.includes('"type":"run-end"'))
    .map((line) => JSON.parse(line))
    .at(-1);
  return end?.status === 'succeeded' && typeof end.backupId === 'string' ? end.backupId : undefined;
}

function sameSet(a, b) {
  return a.size === b.size && [...a].every((item) => b.has(item));
}

function setText(keys) {
  return `{${[...keys]
    .sort()
    .map((k) => `k${k}`)
    .join(', ')}}`;
}

export class Campaign {
  constructor({ log = () => {}, mode = new Set(), faultChance = 0.65 } = {}) {
    this.log = log;
    this.mode = mode;
    this.faultChance = faultChance;
    this.copyPointsCompared = 0;
    this.pairs = {}; // operations run at once, by combination
    this.keyChecks = 0;
    this.keyCommandMs = 1200; // how long the last `key list` that opened took (ms)
    this.faults = {};
    this.ops = {};
    this.missedKills = 0;
    this.socketDirsLeft = []; // documented leftovers: socket directories the next command sweeps
    this.enospcFailures = 0;
    this.fullWithoutFault = 0; // runs without a fault that found the filesystem full of kept points
    this.doctorFull = 0; // doctor runs that could not finish a merge: the filesystem full of kept points
    this.flips = []; // { where, outcome, file, offset, ... } of each flipped byte
    this.pointsCompared = 0;
    this.libvirtdRestartsSkipped = 0; // libvirtd-restart faults not applied: libvirtd not ours, or another domain on it
    this.violations = [];
    this.ws = undefined;
    // Modes of their own file: services, workspace, operations and checks (mode-s3.js, mode-replicate.js).
    const context = {
      cli: (args, fault, db, watch) => this.#cli(args, fault, db, watch),
      violation: (kind, detail) => new Violation(kind, detail),
      whyFailed,
      // The points the campaign's backups took (id -> the source's sha256 then), of the workspace now.
      taken: (id) => this.taken.get(id),
    };
    this.modes = [
      ...(mode.has('s3') ? [new S3Mode(context)] : []),
      ...(mode.has('replicate') ? [new ReplicateMode(context)] : []),
      ...(mode.has('clock') ? [new ClockMode(context)] : []),
      ...(mode.has('twovm') ? [new TwoVmMode(context)] : []),
    ];
  }

  #modeOf(op) {
    return this.modes.find((mode) => mode.ops().includes(op));
  }

  // Points the modes restored and compared (from a bucket, a replica's points).
  modePointsCompared() {
    return this.modes.reduce((sum, mode) => sum + mode.pointsCompared, 0);
  }

  modeSummary() {
    return this.modes.flatMap((mode) => mode.summary());
  }

  async #services() {
    for (const mode of this.modes) {
      liveServices.add(mode);
      await mode.start(tmpParent());
    }
    if (this.mode.has('postgres') && !this.pg) {
      this.pg = new PostgresServer(tmpParent());
      liveServices.add(this.pg);
      await this.pg.start();
    }
    if (this.mode.has('copy') && !this.sshd) {
      this.sshd = await startSshd(tmpParent());
      liveServices.add(this.sshd);
    }
    if (this.mode.has('libvirt') && !this.libvirt) {
      this.libvirt = new LibvirtService(this.log);
      liveServices.add(this.libvirt);
      await this.libvirt.start();
    }
  }

  async #fresh() {
    if (this.ws) for (const mode of this.modes) mode.dispose?.(this.ws);
    if (this.ws) removeWorkspace(this.ws);
    this.ws = undefined;
    await this.#services();
    const dbUrl = this.pg ? await this.pg.createDatabase() : undefined;
    await this.libvirt?.newGuest();
    this.ws = createWorkspace(this.mode, { pg: this.pg, sshd: this.sshd, libvirt: this.libvirt }, dbUrl);
    for (const mode of this.modes) await mode.prepare(this.ws);
    this.expected = new Map(); // point id -> sha256 of the source's guest bytes when it was taken
    this.taken = new Map(); // the same, never dropped: a copy keeps points the hub let go
    this.compared = new Map(); // point id -> chain signature when it last restored equal
    this.copyCompared = new Map(); // the same for the copy's points
    this.protected = new Set();
    this.noted = [];
    this.keysIn = new Set(); // pool keys the repository's keyring holds (none: no repository yet)
    this.pendingKeys = new Set(); // keys a killed first key add may have left in a keyring without marker
  }

  async close() {
    if (this.ws) for (const mode of this.modes) mode.dispose?.(this.ws);
    if (this.ws) removeWorkspace(this.ws);
    this.ws = undefined;
    for (const mode of this.modes) {
      await mode.stop();
      liveServices.delete(mode);
    }
    this.libvirtdRestartsSkipped += this.libvirt?.skippedRestarts ?? 0;
    for (const service of [this.pg, this.sshd, this.libvirt]) {
      if (!service) continue;
      await service.stop();
      liveServices.delete(service);
    }
    this.pg = undefined;
    this.sshd = undefined;
    this.libvirt = undefined;
  }

  // Runs the steps in one fresh workspace; returns the first violation (and stops there) or undefined.
  // `until`: a Date.now() deadline; past it, the rest of the steps are not run (no violation then).
  async runSequence(steps, seed, until = Infinity) {
    await this.#fresh();
    for (let index = 0; index < steps.length && Date.now() < until; index++) {
      try {
        await this.#step(steps[index]);
        await this.#afterEveryStep(steps[index].op);
      } catch (error) {
        const violation = error instanceof Violation ? error : new Violation('harness', error.stack ?? String(error));
        const record = {
          seed,
          mode: modeName(this.mode),
          kind: violation.kind,
          detail: violation.detail,
          steps: steps.slice(0, index + 1),
        };
        this.violations.push(record);
        return record;
      }
    }
    return undefined;
  }

  // A campaign of `faults` faults from `seed`: after a violation, on in a fresh workspace.
  // With `until` (a Date.now() deadline), it stops drawing steps then, however many faults it has.
  async run(faults, seed, until = Infinity) {
    const rng = mulberry32(seed);
    const total = () => Object.values(this.faults).reduce((sum, count) => sum + count, 0);
    await this.#fresh();
    let steps = [];
    while (total() < faults && Date.now() < until) {
      const step = nextStep(rng, this.mode, this.faultChance);
      steps.push(step);
      try {
        await this.#step(step);
        await this.#afterEveryStep(step.op);
      } catch (error) {
        const violation = error instanceof Violation ? error : new Violation('harness', error.stack ?? String(error));
        this.violations.push({
          seed,
          mode: modeName(this.mode),
          kind: violation.kind,
          detail: violation.detail,
          steps,
        });
        // Printed even with --quiet: a violation is the one thing a campaign must never keep to itself.
        console.log(
          `VIOLATION ${violation.kind} (seed ${seed}): ${violation.detail}\n  steps: ${JSON.stringify(steps)}`,
        );
        steps = [];
        await this.#fresh();
      }
    }
    // The end: every point still exact, nothing left.
    try {
      await this.#afterFault('end');
      if (this.mode.has('copy')) await this.#checkCopy(undefined);
      for (const mode of this.modes) await mode.check(this.ws);
    } catch (error) {
      const violation = error instanceof Violation ? error : new Violation('harness', error.stack ?? String(error));
      this.violations.push({ seed, mode: modeName(this.mode), kind: violation.kind, detail: violation.detail, steps });
    }
  }

  async #cli(args, fault, db = this.ws.db, watch = undefined) {
    const result = await runCli(this.ws, args, fault, db, watch);
    this.noted.push(...result.noted);
    // A link a mode cut is back before anything goes on (doctor must reach the store).
    for (const mode of this.modes) await mode.ready?.();
    // A pg-restart under way: nothing goes on before PostgreSQL is back.
    if (this.pg) {
      await this.pg.ready();
      if (this.pgFailure) throw new Violation('harness', `PostgreSQL did not start again: ${this.pgFailure.message}`);
    }
    if (this.libvirt) {
      await this.libvirt.ready();
      const failure = this.libvirt.takeFailure();
      if (failure) throw new Violation('harness', `libvirtd did not start again: ${failure.message}`);
    }
    if (result.timedOut)
      throw new Violation(
        'hung',
        `sendense-run ${args.join(' ')} had not ended after 10 minutes (stopped), in step ${result.step}` +
          `${result.hit ? `, after the fault hit ${result.hit}` : ''}; still running: ${result.hungProcesses.join(', ') || 'nothing'}` +
          `; its last output: ${result.stdout.trim().split('\n').slice(-3).join(' | ').slice(-600)}`,
      );
    return result;
  }

  // What a mode checks after every step, whichever operation it was (the twovm mode: the other VM's points).
  async #afterEveryStep(op) {
    for (const mode of this.modes) await mode.afterEveryStep?.(this.ws, op);
  }

  // The fault of a step, with its moment, from the step's own generator (undefined: none to time).
  #faultOf(step, rng) {
    const own = this.#modeOf(step.op)?.faultOf(step, rng);
    if (own) return own;
    // A key command prints one line, at its end: killed at a fraction (30-105 %) of how long the
    // last `key list` took here, so the kills spread over its life (Node.js starting, scrypt, the write).
    if (step.fault === 'kill-run' && step.op.startsWith('key-'))
      return { kind: 'kill-run', pick: rng.next(), delayMs: Math.round((rng.int(30, 105) / 100) * this.keyCommandMs) };
    if (step.fault === 'kill-run' || step.fault === 'kill-child') return killMoment(step.fault, rng);
    if (step.fault === 'pg-restart') {
      const moment = killMoment('pg-restart', rng);
      const how = rng.pick(['kill', 'immediate', 'fast']);
      const downMs = rng.int(0, 3000);
      return {
        ...moment,
        act: () => {
          this.pg.crash(how, downMs).catch((error) => (this.pgFailure = error));
          return `postgres (${how}, down ${downMs} ms)`;
        },
      };
    }
    if (step.fault === 'libvirtd-restart') {
      const moment = killMoment('libvirtd-restart', rng);
      const how = rng.pick(['sigterm', 'sigkill']);
      const downMs = rng.int(0, 3000);
      // Tried once: libvirtd not ours to restart at that moment is a fault not applied.
      let tried = false;
      return {
        ...moment,
        act: () => {
          if (tried) return undefined;
          tried = true;
          return this.libvirt.restartLibvirtd(how, downMs);
        },
      };
    }
    if (step.fault === 'link-cut') {
      // A copy prints few lines: early moments, so that most cuts land while it runs.
      const moment = {
        kind: 'link-cut',
        ...(rng.chance(0.6) ? { event: rng.int(1, 8) } : { delayMs: rng.int(0, 1500) }),
      };
      return {
        ...moment,
        act: () => {
          const cut = this.sshd.cut();
          return cut > 0 ? `${cut} ssh session${cut > 1 ? 's' : ''}` : undefined;
        },
      };
    }
    return undefined;
  }

  // The pool keys that open the repository (`key list` with each), or the copy's when `path` says.
  async #keysThatOpen(path = this.ws.repository) {
    const open = new Set();
    for (let index = 0; index < KEY_POOL; index++) {
      const started = Date.now();
      const result = await this.#cli(['key', 'list', path, '--key-file', this.ws.keyFiles[index]]);
      if (result.exitCode === 0) this.keyCommandMs = Date.now() - started;
      if (result.exitCode === 0) open.add(index);
      else if (result.exitCode === 2)
        return new Set(); // not an encrypted repository (yet)
      else if (result.exitCode !== 1)
        throw new Violation(
          'unexpected-exit',
          `key list ${path} with k${index}: exit ${result.exitCode}: ${whyFailed(result)}`,
        );
    }
    this.keyChecks += 1;
    return open;
  }

  // After a key command: the keys that open are the old set or the new one (the new one when it
  // was not killed); the plans' key is then one that opens.
  async #keysAfter(result, old, next, what) {
    const actual = await this.#keysThatOpen();
    const killed = result.signal === 'SIGKILL';
    if (!killed && result.exitCode === 0 && !sameSet(actual, next))
      throw new Violation(
        'keyring-wrong',
        `${what}: exit 0, yet the keys that open are ${setText(actual)}, not ${setText(next)}`,
      );
    if (killed && !sameSet(actual, old) && !sameSet(actual, next))
      throw new Violation(
        'keyring-torn',
        `${what} killed: the keys that open are ${setText(actual)}, neither the old ${setText(old)} nor the new ${setText(next)}`,
      );
    // Killed before the repository's marker: a keyring may wait there with the new keys, for the next key add or first backup.
    if (killed && actual.size === 0) for (const index of next) this.pendingKeys.add(index);
    this.#useKeys(actual);
    if (actual.size > 0) this.pendingKeys.clear();
  }

  #useKeys(keys) {
    this.keysIn = keys;
    if (keys.size > 0 && !keys.has(this.ws.planKeyIndex)) useKey(this.ws, Math.min(...keys));
  }

  #countFault(kind) {
    this.faults[kind] = (this.faults[kind] ?? 0) + 1;
  }

  // The operations a step draws, one method each (as the modes, MODES, are one module each); a
  // method answers the step's result, or undefined when there is nothing to do now.
  static #OPERATIONS = {
    backup: (campaign, context) => campaign.#opBackup(context),
    prune: (campaign, context) => campaign.#opPrune(context),
    forget: (campaign, context) => campaign.#opForget(context),
    protect: (campaign, context) => campaign.#opProtect(context),
    unprotect: (campaign, context) => campaign.#opUnprotect(context),
    verify: (campaign, context) => campaign.#opVerify(context),
    restore: (campaign, context) => campaign.#opRestore(context),
    doctor: (campaign, context) => campaign.#opDoctor(context),
    'key-add': (campaign, context) => campaign.#opKeyAdd(context),
    'key-remove': (campaign, context) => campaign.#opKeyRemove(context),
    copy: (campaign, context) => campaign.#opCopy(context),
    pair: (campaign, { rng, complete, fault }) => campaign.#pair(rng, complete, fault),
  };

  async #step(step) {
    const rng = mulberry32(step.seed);
    this.ops[step.op] = (this.ops[step.op] ?? 0) + 1;
    const before = await listBackups(this.ws);
    const fault = this.#faultOf(step, rng);
    let faulted = false;
    let result;
    if (step.op === 'flip') {
      await this.#flip(rng, before);
      return;
    }
    if (step.fault === 'enospc' && this.ws.smallFilesystem) {
      this.#fill(rng);
      this.#countFault('enospc');
      faulted = true;
    }
    const complete = before.filter((point) => point.status === 'complete' && !point.damage);
    const context = { step, rng, before, complete, fault, faulted };
    const operation = Object.hasOwn(Campaign.#OPERATIONS, step.op) ? Campaign.#OPERATIONS[step.op] : undefined;
    result = operation === undefined ? await this.#modeOperation(step, fault, rng) : await operation(this, context);
    // Nothing to do (no repository, no point yet, no key to remove): not a step.
    if (result === undefined) return;
    // A SIGKILL that reached the run as it exited by itself (a zombie) changed nothing: a miss.
    if (fault?.kind === 'kill-run' && result.hit && result.signal !== 'SIGKILL') result = { ...result, hit: undefined };
    if (result.hit)
      this.#countFault(
        fault.kind === 'kill-child'
          ? `kill-child (${result.hit.split(' ')[0]})`
          : fault.kind === 'pg-restart' || fault.kind === 'libvirtd-restart'
            ? `${fault.kind} (${/\((\w+),/.exec(result.hit)[1]})`
            : fault.kind,
      );
    else if (fault) this.missedKills += 1;
    faulted ||= result.hit !== undefined;
    if (step.fault === 'enospc' && result.exitCode !== 0) this.enospcFailures += 1;
    this.log(
      `  ${describeStep(step)}${result.hit ? ` [killed ${result.hit}]` : ''} -> exit ${result.exitCode ?? result.signal}`,
    );
    // Protected points (never merged) can fill the small filesystem by themselves: a backup that
    // finds no room for a full is an answer then, counted apart, not a failure.
    if (!faulted && result.exitCode !== 0 && this.#fullOfKeptPoints(result)) {
      this.fullWithoutFault += 1;
      result = { ...result, refused: true };
    }
    if (!faulted && result.exitCode !== 0 && !result.refused)
      throw new Violation(
        'unexpected-exit',
        `${step.op} without a fault: exit ${result.exitCode}: ${whyFailed(result)}`,
      );
    await this.#pointsKept(before, step.op);
    if (faulted) await this.#afterFault(step.op);
    else await this.#resources();
    if (step.op === 'backup') await this.#repositoryKeys();
    if (step.op === 'copy' || result.pair?.includes('copy'))
      await this.#checkCopy(faulted || result.pair ? undefined : result);
    await this.#modeOf(step.op)?.check(this.ws, { op: step.op, succeeded: !faulted && result.exitCode === 0 });
  }

  // A mode's operation (mode-*.js); undefined: nothing to do (no repository, no point yet).
  async #modeOperation(step, fault, rng) {
    const result = await this.#modeOf(step.op).step(step, fault, this.ws, rng);
    if (result === undefined) return undefined;
    if (this.#modeOf(step.op).takesPoints?.(step.op)) {
      const digest = await sourceDigest(this.ws);
      for (const point of await listBackups(this.ws)) {
        if (!this.expected.has(point.id)) this.expected.set(point.id, digest);
        if (!this.taken.has(point.id)) this.taken.set(point.id, digest);
      }
    }
    return result;
  }

  async #opBackup({ rng, fault }) {
    await writeSource(this.ws, rng);
    const digest = await sourceDigest(this.ws);
    const result = await this.#cli([this.ws.plan], fault);
    const points = await listBackups(this.ws);
    for (const point of points) {
      if (!this.expected.has(point.id)) this.expected.set(point.id, digest);
      if (!this.taken.has(point.id)) this.taken.set(point.id, digest);
    }
    // A backup that succeeded keeps the point it took: retention counts points in the order
    // taken, whatever the clock stamped on them (docs/how-it-works.md#retention).
    const taken = result.hit === undefined && result.exitCode === 0 ? tookPoint(result.stdout) : undefined;
    if (taken !== undefined && !points.some((point) => point.id === taken))
      throw new Violation('taken-point-lost', `backup ${taken} succeeded and is gone at the run's end`);
    return result;
  }

  async #opPrune({ fault }) {
    return await this.#cli(['prune', this.ws.plan], fault);
  }

  async #opForget({ rng, before, fault, faulted }) {
    let result;
    if (before.length === 0) return undefined;
    const point = rng.pick(before);
    result = await this.#cli(['forget', VM, '--point', point.id, ...this.ws.keyArgs], fault);
    if (!fault && !faulted && ![0, 2].includes(result.exitCode))
      throw new Violation('unexpected-exit', `forget ${point.id}: exit ${result.exitCode}: ${result.stderr.trim()}`);
    if (result.exitCode === 0 && this.protected.has(point.id))
      throw new Violation('protected-point-lost', `forget removed protected point ${point.id}`);
    // A refusal (exit 2: protected, a complete point reads through it...) is an answer, not a failure.
    if (result.exitCode === 2) result = { ...result, refused: true };
    return result;
  }

  async #opProtect({ rng, complete }) {
    // At most two protected points: more (never merged) fill the 256 MiB filesystem by themselves.
    if (complete.length === 0 || this.protected.size >= 2) return undefined;
    const point = rng.pick(complete);
    const result = await this.#cli(['protect', VM, '--point', point.id]);
    if (result.exitCode === 0) this.protected.add(point.id);
    return result;
  }

  async #opUnprotect({ rng }) {
    if (this.protected.size === 0) return undefined;
    const point = rng.pick([...this.protected].sort());
    const result = await this.#cli(['unprotect', VM, '--point', point]);
    if (result.exitCode === 0) this.protected.delete(point);
    return result;
  }

  async #opVerify({ fault }) {
    return await this.#cli(['verify', ...this.ws.keyArgs], fault);
  }

  async #opRestore({ rng, complete, fault }) {
    let result;
    if (complete.length === 0) return undefined;
    const point = rng.pick(complete);
    if (fault)
      result = await this.#cli([writeRestorePlan(this.ws, point.id, join(this.ws.restores, 'killed.raw'))], fault);
    else {
      await this.#compare(point, true);
      result = { exitCode: 0, stderr: '' };
    }
    rmSync(join(this.ws.restores, 'killed.raw'), { force: true });
    return result;
  }

  async #opDoctor({ fault }) {
    return await this.#cli(['doctor', ...this.ws.keyArgs], fault);
  }

  async #opKeyAdd({ rng, fault }) {
    await this.#repositoryKeys();
    // No repository yet: key add makes it, opened by both keys (by the plans' key and another).
    const via = this.keysIn.size > 0 ? rng.pick([...this.keysIn].sort()) : this.ws.planKeyIndex;
    const absent = [...Array(KEY_POOL).keys()].filter((index) => !this.keysIn.has(index) && index !== via);
    if (absent.length === 0) return undefined;
    const add = rng.pick(absent);
    const old = new Set(this.keysIn);
    // A keyring a killed first key add left (no marker yet) is reused: its keys are there too.
    const next = new Set([...old, via, add, ...(old.size === 0 ? this.pendingKeys : [])]);
    const keys = this.ws.keyFiles;
    const result = await this.#cli(
      ['key', 'add', this.ws.repository, '--key-file', keys[via], '--new-key-file', keys[add]],
      fault,
    );
    await this.#keysAfter(result, old, next, `key add k${add} (with k${via})`);
    return result;
  }

  async #opKeyRemove({ rng, fault }) {
    await this.#repositoryKeys();
    // Never the last key: only with two or more, and the one that stays is another.
    if (this.keysIn.size < 2) return undefined;
    const keys = [...this.keysIn].sort();
    const remove = rng.pick(keys);
    const keep = rng.pick(keys.filter((index) => index !== remove));
    const old = new Set(this.keysIn);
    const next = new Set(keys.filter((index) => index !== remove));
    const result = await this.#cli(
      [
        'key',
        'remove',
        this.ws.repository,
        '--key-file',
        this.ws.keyFiles[keep],
        '--remove-key-file',
        this.ws.keyFiles[remove],
      ],
      fault,
    );
    await this.#keysAfter(result, old, next, `key remove k${remove} (keeping k${keep})`);
    return result;
  }

  async #opCopy({ fault }) {
    // Before the first backup a copy has nothing to copy (it says so, exit 1): not drawn then.
    if (!this.#repositoryMade()) return undefined;
    return await this.#cli([this.ws.copyPlan], fault);
  }

  // Two operations of the VM at once (backup, prune, verify, restore, copy in copy mode), the fault
  // (if any) on one of them. Each that was not killed succeeds or is refused because the other
  // holds the VM; a restore that succeeds gives the point's exact bytes, and one that fails does
  // so only because the other run holds the VM or took the point away. Returns one result for
  // the step: the faulted run's hit and signal, exit 0 when both answered as they may.
  async #pair(rng, complete, fault) {
    const kinds = ['backup', 'prune', 'verify', 'restore', ...(this.mode.has('copy') ? ['copy'] : [])];
    const ops = [rng.pick(kinds), rng.pick(kinds)];
    const faultOn = rng.int(0, 1);
    const restored = ops.map((op) => (op === 'restore' && complete.length > 0 ? rng.pick(complete) : undefined));
    let digest;
    if (ops.includes('backup')) {
      await writeSource(this.ws, rng);
      digest = await sourceDigest(this.ws);
    }
    const targets = [0, 1].map((index) => join(this.ws.restores, `pair-${index}.raw`));
    const start = (op, index) => {
      const own = index === faultOn ? fault : undefined;
      if (op === 'backup') return this.#cli([this.ws.plan], own);
      if (op === 'prune') return this.#cli(['prune', this.ws.plan], own);
      if (op === 'verify') return this.#cli(['verify', ...this.ws.keyArgs], own);
      if (op === 'copy' && this.#repositoryMade()) return this.#cli([this.ws.copyPlan], own);
      // Nothing to run (a restore without a complete point, a copy before the first backup).
      if (op !== 'restore' || restored[index] === undefined)
        return Promise.resolve({ exitCode: 0, stdout: '', stderr: '', noted: [] });
      return this.#cli(
        [writeRestorePlan(this.ws, restored[index].id, targets[index], { name: `restore-pair-${index}.yaml` })],
        own,
      );
    };
    const results = await Promise.all(ops.map(start));
    const combination = [...ops].sort().join('+');
    this.pairs[combination] = (this.pairs[combination] ?? 0) + 1;
    try {
      if (digest !== undefined) {
        for (const point of await listBackups(this.ws)) {
          if (!this.expected.has(point.id)) this.expected.set(point.id, digest);
          if (!this.taken.has(point.id)) this.taken.set(point.id, digest);
        }
      }
      const now = new Set((await listBackups(this.ws)).map((point) => point.id));
      for (const [index, result] of results.entries()) {
        const killed =
          index === faultOn && result.hit !== undefined && (fault.kind !== 'kill-run' || result.signal === 'SIGKILL');
        if (killed) continue;
        const why = result.exitCode === 0 ? '' : whyFailed(result);
        const point = restored[index];
        if (ops[index] === 'restore' && point !== undefined) {
          if (result.exitCode === 0) {
            this.pointsCompared += 1;
            if ((await sha256File(targets[index])) !== this.expected.get(point.id))
              throw new Violation(
                'wrong-bytes',
                `point ${point.id} restored (beside a ${ops[1 - index]}) to other bytes than the source had`,
              );
            continue;
          }
          if (BUSY.test(why) || !now.has(point.id)) continue;
          throw new Violation(
            'restore-failed',
            `point ${point.id} (beside a ${ops[1 - index]}): exit ${result.exitCode}: ${why}`,
          );
        }
        if (result.exitCode !== 0 && !BUSY.test(why) && this.#fullOfKeptPoints(result)) {
          this.fullWithoutFault += 1;
          continue;
        }
        if (result.exitCode !== 0 && !BUSY.test(why))
          throw new Violation(
            'unexpected-exit',
            `${ops[index]} beside a ${ops[1 - index]}${index === faultOn && fault ? ' (its fault missed)' : ''}: exit ${result.exitCode}: ${why}`,
          );
      }
    } finally {
      for (const target of targets) rmSync(target, { force: true });
    }
    this.log(
      `  pair: ${ops.map((op, index) => `${op}${index === faultOn && fault ? ` + ${fault.kind}` : ''} -> exit ${results[index].exitCode ?? results[index].signal}`).join(', ')}`,
    );
    const faulted = fault ? results[faultOn] : undefined;
    return { exitCode: 0, stdout: '', stderr: '', hit: faulted?.hit, signal: faulted?.signal, pair: ops };
  }

  // Encrypted: once the first backup made the repository, the keys that open it: the plans' key
  // alone, or the keys of a keyring a killed first key add left, which that backup takes over.
  async #repositoryKeys() {
    if (!this.ws.encrypted || this.keysIn.size > 0 || !existsSync(join(this.ws.repository, '.sendense-repository')))
      return;
    const actual = await this.#keysThatOpen();
    // A keyring a killed first key add left is taken over by the first backup.
    if (
      !sameSet(actual, new Set([this.ws.planKeyIndex])) &&
      !(this.pendingKeys.has(this.ws.planKeyIndex) && sameSet(actual, this.pendingKeys))
    )
      throw new Violation(
        'keyring-wrong',
        `the first backup made a repository opened by ${setText(actual)}, not by the plan's k${this.ws.planKeyIndex} alone${this.pendingKeys.size > 0 ? ` nor by ${setText(this.pendingKeys)} (a killed key add's)` : ''}`,
      );
    this.pendingKeys.clear();
    this.#useKeys(actual);
  }

  // The copy, after a copy run (and doctor when it was faulted) and at the end: no session left
  // on its host, no partial file or merge journal there, its keyring the hub's after a run that
  // succeeded (`ok`: that run's result); every point it holds imports, and restores from it alone
  // to the bytes the source had when that point was taken.
  async #checkCopy(ok) {
    for (let tries = 0; tries < 100 && this.sshd.sessions().length > 0; tries++)
      await new Promise((resolve) => setTimeout(resolve, 30));
    const sessions = this.sshd.sessions();
    if (sessions.length > 0)
      throw new Violation(
        'left-behind',
        `ssh sessions left on the copy's host: ${sessions.map((entry) => `${entry.pid} ${entry.command.join(' ')}`).join('; ')}`,
      );
    if (!existsSync(join(this.ws.copy, '.sendense-repository'))) return;
    const stray = readdirSync(this.ws.copy, { recursive: true }).filter((name) =>
      /\.partial$|\.merge$|\.sendense-merge$/.test(name),
    );
    if (stray.length > 0) throw new Violation('left-behind', `on the copy: ${stray.join(', ')}`);
    let keyFile;
    if (this.ws.encrypted) {
      if (
        ok?.exitCode === 0 &&
        !readFileSync(join(this.ws.copy, '.sendense-keys')).equals(
          readFileSync(join(this.ws.repository, '.sendense-keys')),
        )
      )
        throw new Violation(
          'copy-keyring-stale',
          "after a copy run that succeeded, the copy's .sendense-keys differs from the hub's",
        );
      const open = await this.#keysThatOpen(this.ws.copy);
      if (open.size === 0) throw new Violation('copy-unopenable', 'no key of the pool opens the copy');
      keyFile = this.ws.keyFiles[Math.min(...open)];
    }
    rmSync(this.ws.copyDb, { force: true });
    const imported = await this.#cli(
      ['catalog', 'import', this.ws.copy, ...(keyFile ? ['--key-file', keyFile] : [])],
      undefined,
      this.ws.copyDb,
    );
    if (imported.exitCode !== 0)
      throw new Violation(
        'copy-import-failed',
        `catalog import of the copy: exit ${imported.exitCode}: ${whyFailed(imported)}`,
      );
    const points = await listBackups(this.ws, this.ws.copyDb);
    const byId = new Map(points.map((point) => [point.id, point]));
    for (const point of points) {
      if (point.status !== 'complete') continue;
      if (!this.taken.has(point.id))
        throw new Violation('unknown-point', `the copy holds ${point.id}, which no backup of this campaign took`);
      const signature = chainSignature(point, byId);
      if (this.copyCompared.get(point.id) === signature) continue;
      const target = join(this.ws.restores, `copy-${point.id}.raw`);
      const restored = await this.#cli(
        [writeRestorePlan(this.ws, point.id, target, { repository: this.ws.copy, keyFile })],
        undefined,
        this.ws.copyDb,
      );
      try {
        if (restored.exitCode !== 0)
          throw new Violation(
            'copy-restore-failed',
            `point ${point.id} of the copy: exit ${restored.exitCode}: ${whyFailed(restored)}`,
          );
        this.copyPointsCompared += 1;
        if ((await sha256File(target)) !== this.taken.get(point.id))
          throw new Violation(
            'copy-wrong-bytes',
            `point ${point.id} restored from the copy to other bytes than the source had`,
          );
      } finally {
        rmSync(target, { force: true });
      }
      this.copyCompared.set(point.id, signature);
    }
  }

  // A point that was there may only go through an operation that removes points; a protected point never.
  async #pointsKept(before, op) {
    const now = new Set((await listBackups(this.ws)).map((point) => point.id));
    for (const point of before) {
      if (now.has(point.id)) continue;
      if (this.protected.has(point.id) && op !== 'flip')
        throw new Violation('protected-point-lost', `${point.id} went during ${op}`);
      if (!REMOVES_POINTS.has(op) && !this.#modeOf(op)?.removesPoints?.(op))
        throw new Violation('point-lost', `${point.id} (${point.status}) went during ${op}`);
      this.expected.delete(point.id);
      this.compared.delete(point.id);
      this.protected.delete(point.id);
    }
  }

  #repositoryMade() {
    return existsSync(join(this.ws.repository, '.sendense-repository'));
  }

  #fullOfKeptPoints(result) {
    if (!this.ws.smallFilesystem || !/ENOSPC|no space left on device/i.test(whyFailed(result))) return false;
    const { bavail, bsize } = statfs(this.ws.mount);
    return bavail * bsize < 2 * SOURCE_BYTES;
  }

  // Leaves `free` bytes (0-12 MiB) on the repository's filesystem.
  #fill(rng) {
    const { bavail, bsize } = statfs(this.ws.mount);
    const free = rng.int(0, 12) * 1024 * 1024;
    // ext4 needs blocks of its own for the filler's extents: ask for less until it fits.
    for (let size = bavail * bsize - free; size > 0; size -= 2 * 1024 * 1024) {
      if (spawnSync('fallocate', ['-l', String(size), this.ws.filler], { stdio: 'ignore' }).status === 0) return;
      rmSync(this.ws.filler, { force: true });
    }
  }

  // doctor, then: nothing left, every complete point restores equal.
  async #afterFault(op) {
    rmSync(this.ws.filler, { force: true });
    const doctor = await this.#cli(['doctor', ...this.ws.keyArgs]);
    // Finishing an interrupted merge writes into the child: on a filesystem that protected points
    // filled (no fault's filler: it is gone), doctor says so and keeps the merge for its next run.
    // An answer, as for a backup that finds no room; the points must still restore (below), and
    // what is left is checked after the next doctor that succeeds.
    const full = doctor.exitCode !== 0 && this.#fullOfKeptPoints(doctor);
    if (full) {
      this.doctorFull += 1;
      this.log(`  doctor after ${op}: the filesystem is full of kept points: ${whyFailed(doctor)}`);
    } else if (doctor.exitCode !== 0)
      throw new Violation('doctor-failed', `after ${op}: exit ${doctor.exitCode}: ${whyFailed(doctor)}`);
    if (!full) await this.#resources();
    const backups = await listBackups(this.ws);
    const byId = new Map(backups.map((point) => [point.id, point]));
    for (const point of backups) {
      if (point.status !== 'complete') continue;
      if (!this.expected.has(point.id))
        throw new Violation('unknown-point', `${point.id} is complete but no backup of this campaign took it`);
      if (this.compared.get(point.id) === chainSignature(point, byId)) continue;
      await this.#compare(point, !point.damage);
      if (!point.damage) this.compared.set(point.id, chainSignature(point, byId));
    }
  }

  async #resources() {
    const backups = await listBackups(this.ws);
    const found = await leftovers(this.ws, this.noted, backups, this.socketDirsLeft);
    if (this.libvirt) found.push(...this.libvirt.check(this.ws, backups));
    this.noted = [];
    if (found.length > 0) throw new Violation('left-behind', found.join('; '));
  }

  // Restores the point into a raw file and compares it with the source when it was taken. A point
  // that must restore (complete, not damaged) failing is a violation; any restore that succeeds
  // with other bytes is one (silent wrong data).
  async #compare(point, mustRestore) {
    const target = join(this.ws.restores, `${point.id}.raw`);
    const result = await this.#cli([writeRestorePlan(this.ws, point.id, target)]);
    try {
      if (result.exitCode !== 0) {
        if (mustRestore)
          throw new Violation('restore-failed', `point ${point.id}: exit ${result.exitCode}: ${whyFailed(result)}`);
        return false;
      }
      this.pointsCompared += 1;
      const digest = await sha256File(target);
      if (digest !== this.expected.get(point.id))
        throw new Violation(
          'wrong-bytes',
          `point ${point.id}${point.damage ? ' (marked damaged)' : ''} restored to other bytes than the source had`,
        );
      return true;
    } finally {
      rmSync(target, { force: true });
    }
  }

  // A flipped byte in a point's file (qcow2 or manifest). Invariant: verify reports it, or no
  // point reads it (every complete point still restores equal); never a restore of other bytes.
  async #flip(rng, before) {
    const dir = join(this.ws.repository, VM, `disk-${DISK_KEY}`);
    let files = [];
    try {
      files = readdirSync(dir).sort();
    } catch {
      return;
    }
    if (files.length === 0) return;
    const file = join(dir, rng.pick(files));
    const offset = rng.int(0, statSync(file).size - 1);
    const fd = openSync(file, 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, offset);
    const was = byte[0];
    byte[0] ^= rng.int(1, 255);
    writeSync(fd, byte, 0, 1, offset);
    const context = Buffer.alloc(48);
    const read = readSync(fd, context, 0, 48, Math.max(0, offset - 24));
    closeSync(fd);
    this.#countFault('flip');
    const verify = await this.#cli(['verify', ...this.ws.keyArgs]);
    this.log(`  flip ${file.split('/').pop()}@${offset} -> verify exit ${verify.exitCode}`);
    if (![0, 1].includes(verify.exitCode))
      throw new Violation('verify-failed', `exit ${verify.exitCode}: ${verify.stderr.trim()}`);
    const backups = await listBackups(this.ws);
    const byId = new Map(backups.map((point) => [point.id, point]));
    // Every point: a restore may refuse only when verify reported damage; bytes are always exact.
    for (const point of backups.filter((p) => p.status === 'complete')) {
      const restored = await this.#compare(point, false);
      if (!restored && !point.damage)
        throw new Violation(
          'damage-not-reported',
          `${file}@${offset}: point ${point.id} no longer restores, yet verify did not mark it damaged`,
        );
      if (restored) this.compared.set(point.id, chainSignature(point, byId));
    }
    const where = file.endsWith('.json') ? 'manifest' : 'qcow2';
    const outcome = verify.exitCode === 1 ? 'reported' : 'not reported, no point reads it';
    this.flips.push({
      where,
      outcome,
      file: file.split('/').pop(),
      offset,
      was,
      now: byte[0],
      context: where === 'manifest' ? context.subarray(0, read).toString('latin1') : undefined,
    });
    if (verify.exitCode === 1) {
      // forget refuses protected points: give the damaged ones back to it first.
      for (const id of backups.filter((p) => p.damage && this.protected.has(p.id)).map((p) => p.id)) {
        const unprotect = await this.#cli(['unprotect', VM, '--point', id]);
        if (unprotect.exitCode !== 0)
          throw new Violation(
            'unexpected-exit',
            `unprotect ${id}: exit ${unprotect.exitCode}: ${unprotect.stderr.trim()}`,
          );
        this.protected.delete(id);
      }
      const forget = await this.#cli(['forget', VM, '--damaged', ...this.ws.keyArgs]);
      if (forget.exitCode !== 0)
        throw new Violation('forget-damaged-failed', `exit ${forget.exitCode}: ${whyFailed(forget)}`);
    }
    await this.#pointsKept(before, 'flip');
    await this.#afterFault('flip');
  }
}

// A failed command's own words: its --json error lines (doctor's: findings not cleaned), else its last lines of stderr.
function whyFailed(result) {
  const errors = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{') && /"type":"(error|run-end)"|"ok":false/.test(line))
    .map((line) => JSON.parse(line))
    // doctor's findings it could not clean: what, and what it did.
    .map((event) => event.error ?? event.message ?? (event.ok === false ? `${event.what}: ${event.action}` : undefined))
    .filter(Boolean);
  return errors.length > 0 ? errors.join(' / ') : result.stderr.trim().split('\n').slice(-3).join(' / ');
}

function statfs(dir) {
  const out = execFileSync('stat', ['-f', '-c', '%a %S', dir], { encoding: 'utf8' }).trim().split(' ');
  return { bavail: Number(out[0]), bsize: Number(out[1]) };
}
