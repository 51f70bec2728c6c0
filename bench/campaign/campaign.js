// The campaign itself: steps (an operation, maybe with a fault) drawn from a seed, run against
// one workspace, and after each the invariants; a violation is recorded with the steps that led
// to it, and the campaign goes on in a fresh workspace.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from './prng.js';
import { runCli } from './run-cli.js';
import { chainSignature, leftovers, listBackups } from './state-checks.js';
import { DISK_KEY, VM, createWorkspace, removeWorkspace, sha256File, sourceDigest, writeRestorePlan, writeSource } from './workspace.js';

const OPERATIONS = { backup: 10, prune: 2, forget: 2, protect: 2, unprotect: 1, verify: 2, restore: 2, doctor: 1 };
// The faults each operation can take (a flipped byte is a step of its own).
const FAULTS = {
  backup: ['kill-run', 'kill-run', 'kill-child', 'kill-child', 'enospc'],
  prune: ['kill-run', 'kill-run', 'enospc'],
  forget: ['kill-run'],
  verify: ['kill-run'],
  restore: ['kill-run', 'kill-child'],
};
// Operations that may legitimately remove points (retention after a backup, merges, doctor finishing one).
const REMOVES_POINTS = new Set(['backup', 'prune', 'forget', 'doctor', 'flip']);

// The next step from the campaign's generator: { op, fault, seed }.
export function nextStep(rng) {
  if (rng.chance(0.1)) return { op: 'flip', fault: 'flip', seed: rng.seed() };
  const op = rng.weighted(OPERATIONS);
  const fault = FAULTS[op] && rng.chance(0.65) ? rng.pick(FAULTS[op]) : null;
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

export class Campaign {
  constructor({ log = () => {} } = {}) {
    this.log = log;
    this.faults = {};
    this.ops = {};
    this.missedKills = 0;
    this.socketDirsLeft = []; // documented leftovers: socket directories the next command sweeps
    this.enospcFailures = 0;
    this.flips = []; // { where, outcome, file, offset, ... } of each flipped byte
    this.pointsCompared = 0;
    this.violations = [];
    this.ws = undefined;
  }

  #fresh() {
    if (this.ws) removeWorkspace(this.ws);
    this.ws = createWorkspace();
    this.expected = new Map(); // point id -> sha256 of the source's guest bytes when it was taken
    this.compared = new Map(); // point id -> chain signature when it last restored equal
    this.protected = new Set();
    this.noted = [];
  }

  close() {
    if (this.ws) removeWorkspace(this.ws);
    this.ws = undefined;
  }

  // Runs the steps in one fresh workspace; returns the first violation (and stops there) or undefined.
  // `until`: a Date.now() deadline; past it, the rest of the steps are not run (no violation then).
  async runSequence(steps, seed, until = Infinity) {
    this.#fresh();
    for (let index = 0; index < steps.length && Date.now() < until; index++) {
      try {
        await this.#step(steps[index]);
      } catch (error) {
        const violation = error instanceof Violation ? error : new Violation('harness', error.stack ?? String(error));
        const record = { seed, kind: violation.kind, detail: violation.detail, steps: steps.slice(0, index + 1) };
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
    this.#fresh();
    let steps = [];
    while (total() < faults && Date.now() < until) {
      const step = nextStep(rng);
      steps.push(step);
      try {
        await this.#step(step);
      } catch (error) {
        const violation = error instanceof Violation ? error : new Violation('harness', error.stack ?? String(error));
        this.violations.push({ seed, kind: violation.kind, detail: violation.detail, steps });
        this.log(`VIOLATION ${violation.kind} (seed ${seed}): ${violation.detail}\n  steps: ${JSON.stringify(steps)}`);
        steps = [];
        this.#fresh();
      }
    }
    // The end: every point still exact, nothing left.
    try {
      await this.#afterFault('end');
    } catch (error) {
      const violation = error instanceof Violation ? error : new Violation('harness', error.stack ?? String(error));
      this.violations.push({ seed, kind: violation.kind, detail: violation.detail, steps });
    }
  }

  async #cli(args, fault) {
    const result = await runCli(this.ws, args, fault);
    this.noted.push(...result.noted);
    return result;
  }

  #countFault(kind) {
    this.faults[kind] = (this.faults[kind] ?? 0) + 1;
  }

  async #step(step) {
    const rng = mulberry32(step.seed);
    this.ops[step.op] = (this.ops[step.op] ?? 0) + 1;
    const before = await listBackups(this.ws);
    const fault = step.fault === 'kill-run' || step.fault === 'kill-child' ? killMoment(step.fault, rng) : undefined;
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
    switch (step.op) {
      case 'backup': {
        writeSource(this.ws, rng);
        const digest = await sourceDigest(this.ws);
        result = await this.#cli([this.ws.plan], fault);
        for (const point of await listBackups(this.ws)) if (!this.expected.has(point.id)) this.expected.set(point.id, digest);
        break;
      }
      case 'prune':
        result = await this.#cli(['prune', this.ws.plan], fault);
        break;
      case 'forget': {
        if (before.length === 0) return;
        const point = rng.pick(before);
        result = await this.#cli(['forget', VM, '--point', point.id], fault);
        if (!fault && !faulted && ![0, 2].includes(result.exitCode)) throw new Violation('unexpected-exit', `forget ${point.id}: exit ${result.exitCode}: ${result.stderr.trim()}`);
        if (result.exitCode === 0 && this.protected.has(point.id)) throw new Violation('protected-point-lost', `forget removed protected point ${point.id}`);
        // A refusal (exit 2: protected, a complete point reads through it...) is an answer, not a failure.
        if (result.exitCode === 2) result = { ...result, refused: true };
        break;
      }
      case 'protect': {
        if (complete.length === 0) return;
        const point = rng.pick(complete);
        result = await this.#cli(['protect', VM, '--point', point.id]);
        if (result.exitCode === 0) this.protected.add(point.id);
        break;
      }
      case 'unprotect': {
        if (this.protected.size === 0) return;
        const point = rng.pick([...this.protected].sort());
        result = await this.#cli(['unprotect', VM, '--point', point]);
        if (result.exitCode === 0) this.protected.delete(point);
        break;
      }
      case 'verify':
        result = await this.#cli(['verify'], fault);
        break;
      case 'restore': {
        if (complete.length === 0) return;
        const point = rng.pick(complete);
        if (fault) result = await this.#cli([writeRestorePlan(this.ws, point.id, join(this.ws.restores, 'killed.raw'))], fault);
        else {
          await this.#compare(point, true);
          result = { exitCode: 0, stderr: '' };
        }
        rmSync(join(this.ws.restores, 'killed.raw'), { force: true });
        break;
      }
      case 'doctor':
        result = await this.#cli(['doctor']);
        break;
    }
    // A SIGKILL that reached the run as it exited by itself (a zombie) changed nothing: a miss.
    if (fault?.kind === 'kill-run' && result.hit && result.signal !== 'SIGKILL') result = { ...result, hit: undefined };
    if (result.hit) this.#countFault(fault.kind === 'kill-run' ? 'kill-run' : `kill-child (${result.hit.split(' ')[0]})`);
    else if (fault) this.missedKills += 1;
    faulted ||= result.hit !== undefined;
    if (step.fault === 'enospc' && result.exitCode !== 0) this.enospcFailures += 1;
    this.log(`  ${describeStep(step)}${result.hit ? ` [killed ${result.hit}]` : ''} -> exit ${result.exitCode ?? result.signal}`);
    if (!faulted && result.exitCode !== 0 && !result.refused) throw new Violation('unexpected-exit', `${step.op} without a fault: exit ${result.exitCode}: ${whyFailed(result)}`);
    await this.#pointsKept(before, step.op);
    if (faulted) await this.#afterFault(step.op);
    else await this.#resources();
  }

  // A point that was there may only go through an operation that removes points; a protected point never.
  async #pointsKept(before, op) {
    const now = new Set((await listBackups(this.ws)).map((point) => point.id));
    for (const point of before) {
      if (now.has(point.id)) continue;
      if (this.protected.has(point.id) && op !== 'flip') throw new Violation('protected-point-lost', `${point.id} went during ${op}`);
      if (!REMOVES_POINTS.has(op)) throw new Violation('point-lost', `${point.id} (${point.status}) went during ${op}`);
      this.expected.delete(point.id);
      this.compared.delete(point.id);
      this.protected.delete(point.id);
    }
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
    const doctor = await this.#cli(['doctor']);
    if (doctor.exitCode !== 0) throw new Violation('doctor-failed', `after ${op}: exit ${doctor.exitCode}: ${whyFailed(doctor)}`);
    await this.#resources();
    const backups = await listBackups(this.ws);
    const byId = new Map(backups.map((point) => [point.id, point]));
    for (const point of backups) {
      if (point.status !== 'complete') continue;
      if (!this.expected.has(point.id)) throw new Violation('unknown-point', `${point.id} is complete but no backup of this campaign took it`);
      if (this.compared.get(point.id) === chainSignature(point, byId)) continue;
      await this.#compare(point, !point.damage);
      if (!point.damage) this.compared.set(point.id, chainSignature(point, byId));
    }
  }

  async #resources() {
    const found = await leftovers(this.ws, this.noted, await listBackups(this.ws), this.socketDirsLeft);
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
        if (mustRestore) throw new Violation('restore-failed', `point ${point.id}: exit ${result.exitCode}: ${whyFailed(result)}`);
        return false;
      }
      this.pointsCompared += 1;
      const digest = await sha256File(target);
      if (digest !== this.expected.get(point.id)) throw new Violation('wrong-bytes', `point ${point.id}${point.damage ? ' (marked damaged)' : ''} restored to other bytes than the source had`);
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
    const verify = await this.#cli(['verify']);
    this.log(`  flip ${file.split('/').pop()}@${offset} -> verify exit ${verify.exitCode}`);
    if (![0, 1].includes(verify.exitCode)) throw new Violation('verify-failed', `exit ${verify.exitCode}: ${verify.stderr.trim()}`);
    const backups = await listBackups(this.ws);
    const byId = new Map(backups.map((point) => [point.id, point]));
    // Every point: a restore may refuse only when verify reported damage; bytes are always exact.
    for (const point of backups.filter((p) => p.status === 'complete')) {
      const restored = await this.#compare(point, false);
      if (!restored && !point.damage) throw new Violation('damage-not-reported', `${file}@${offset}: point ${point.id} no longer restores, yet verify did not mark it damaged`);
      if (restored) this.compared.set(point.id, chainSignature(point, byId));
    }
    const where = file.endsWith('.json') ? 'manifest' : 'qcow2';
    const outcome = verify.exitCode === 1 ? 'reported' : 'not reported, no point reads it';
    this.flips.push({ where, outcome, file: file.split('/').pop(), offset, was, now: byte[0], context: where === 'manifest' ? context.subarray(0, read).toString('latin1') : undefined });
    if (verify.exitCode === 1) {
      // forget refuses protected points: give the damaged ones back to it first.
      for (const id of backups.filter((p) => p.damage && this.protected.has(p.id)).map((p) => p.id)) {
        const unprotect = await this.#cli(['unprotect', VM, '--point', id]);
        if (unprotect.exitCode !== 0) throw new Violation('unexpected-exit', `unprotect ${id}: exit ${unprotect.exitCode}: ${unprotect.stderr.trim()}`);
        this.protected.delete(id);
      }
      const forget = await this.#cli(['forget', VM, '--damaged']);
      if (forget.exitCode !== 0) throw new Violation('forget-damaged-failed', `exit ${forget.exitCode}: ${whyFailed(forget)}`);
    }
    await this.#pointsKept(before, 'flip');
    await this.#afterFault('flip');
  }
}

// A failed command's own words: its --json error lines, else its last lines of stderr.
function whyFailed(result) {
  const errors = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{') && /"type":"(error|run-end)"/.test(line))
    .map((line) => JSON.parse(line))
    .map((event) => event.error ?? event.message)
    .filter(Boolean);
  return errors.length > 0 ? errors.join(' / ') : result.stderr.trim().split('\n').slice(-3).join(' / ');
}

function statfs(dir) {
  const out = execFileSync('stat', ['-f', '-c', '%a %S', dir], { encoding: 'utf8' }).trim().split(' ');
  return { bavail: Number(out[0]), bsize: Number(out[1]) };
}
