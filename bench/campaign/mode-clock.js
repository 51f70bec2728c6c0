// The campaign's `clock` mode: the hub's clock jumps, as NTP steps a clock that ran fast or slow.
// Every sendense-run process of the workspace reads the clock through test/support/skewed-clock.mjs,
// whose skew is the workspace's clock file: a jump is a new number there (timers and the files'
// own times do not move). Operations: `clock-jump` (the fault itself: back 10 s-2 days or forward
// 1 min-3 days, the skew kept within 30 days) and `schedule` (`sendense-run schedule` of the VM's
// plan every 3 s; after its first run the clock jumps back a few seconds or forward, and after its
// next run it is stopped by SIGTERM; kill-run and kill-child may hit it instead). After a schedule:
// it exited 0 unless killed, and the runs it started began, in the order recorded, each later by
// its clock than the one before (no scheduled time ran twice: docs/how-it-works.md#when-the-hubs-clock-jumps).
// The campaign's own check that a backup without a fault keeps its point covers retention on
// points stamped out of order.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SKEWED_CLOCK = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'support', 'skewed-clock.mjs');
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;
const MAX_SKEW = 30 * DAY;

export function clockTables(mode, operations, faults) {
  operations['clock-jump'] = 2;
  operations.schedule = 2;
  faults['clock-jump'] = ['clock-jump'];
  faults.schedule = ['kill-run', 'kill-child'];
  if (mode.has('postgres')) faults.schedule.push('pg-restart');
}

// The environment of every sendense-run of a workspace whose clock can jump.
export function clockEnv(ws) {
  return ws.clockFile === undefined
    ? {}
    : { NODE_OPTIONS: `--import=${SKEWED_CLOCK}`, SENDENSE_TEST_CLOCK_SKEW_FILE: ws.clockFile };
}

function readSkew(ws) {
  return Number(readFileSync(ws.clockFile, 'utf8').trim()) || 0;
}

// Moves the workspace's clock by deltaMs (kept within MAX_SKEW of the real time); returns the move made.
function jump(ws, deltaMs) {
  const before = readSkew(ws);
  const after = Math.max(-MAX_SKEW, Math.min(MAX_SKEW, before + deltaMs));
  // Whole or not at all: the clock hook reads the file every 50 ms.
  writeFileSync(`${ws.clockFile}.new`, String(after));
  renameSync(`${ws.clockFile}.new`, ws.clockFile);
  return after - before;
}

function describeMove(ms) {
  const size = Math.abs(ms);
  const text =
    size >= DAY
      ? `${(size / DAY).toFixed(1)} d`
      : size >= MINUTE
        ? `${Math.round(size / MINUTE)} min`
        : `${Math.round(size / SECOND)} s`;
  return `${ms < 0 ? 'back' : 'forward'} ${text}`;
}

export class ClockMode {
  // `campaign`: { cli(args, fault, db, watch), violation(kind, detail), whyFailed(result) }.
  constructor(campaign) {
    this.campaign = campaign;
    this.pointsCompared = 0;
    this.jumps = { back: 0, forward: 0 };
    this.schedules = { stopped: 0, killed: 0, runs: 0, setBackNotes: 0 };
  }

  ops() {
    return ['clock-jump', 'schedule'];
  }

  // The scheduler's runs take points of the VM: of the source as it is (no step writes it meanwhile).
  takesPoints(op) {
    return op === 'schedule';
  }

  async start() {}

  async stop() {}

  prepare(ws) {
    ws.clockFile = join(ws.root, 'clock-skew');
    writeFileSync(ws.clockFile, '0');
    ws.scheduleDir = join(ws.root, 'scheduled');
    mkdirSync(ws.scheduleDir);
    // The VM's own plan with a schedule: the same plan (one name), run by the scheduler.
    writeFileSync(
      join(ws.scheduleDir, 'campaign.yaml'),
      `${readFileSync(ws.plan, 'utf8').trimEnd()}\nschedule: '*/3 * * * * *'\ntimezone: UTC\n`,
    );
  }

  faultOf(step, rng) {
    if (step.op !== 'clock-jump') return undefined;
    const back = rng.chance(0.5);
    const ms = back ? -rng.int(10 * SECOND, 2 * DAY) : rng.int(MINUTE, 3 * DAY);
    return { kind: 'clock-jump', ms };
  }

  async step(step, fault, ws, rng) {
    if (step.op === 'clock-jump') {
      const moved = jump(ws, fault.ms);
      this.jumps[moved < 0 ? 'back' : 'forward'] += 1;
      return { exitCode: 0, hit: `the clock (${describeMove(moved)})`, stdout: '', stderr: '' };
    }
    return this.#schedule(fault, ws, rng);
  }

  async #schedule(fault, ws, rng) {
    const back = rng.chance(0.6);
    const moveMs = back ? -rng.int(2 * SECOND, 12 * SECOND) : rng.int(MINUTE, 2 * DAY);
    let ends = 0;
    let stopped = false;
    let safety;
    const runIds = [];
    this.lastRuns = undefined;
    const watch = (line, send) => {
      let event;
      try {
        event = JSON.parse(line);
      } catch {
        return;
      }
      if (event.type === 'run-start' && event.runId) runIds.push(event.runId);
      if (event.type === 'scheduler' && event.event === 'clock-set-back') this.schedules.setBackNotes += 1;
      if (event.type !== 'run-end') return;
      ends += 1;
      if (ends === 1) {
        jump(ws, moveMs);
        // Back a few seconds: the scheduler runs again once its clock passes the last time that ran.
        safety = setTimeout(() => {
          stopped = true;
          send('SIGTERM');
        }, 60 * SECOND);
      } else if (!stopped) {
        stopped = true;
        send('SIGTERM');
      }
    };
    const result = await this.campaign.cli(['schedule', ws.scheduleDir], fault, undefined, watch);
    clearTimeout(safety);
    this.schedules.runs += runIds.length;
    if (result.hit) this.schedules.killed += 1;
    else {
      this.schedules.stopped += 1;
      if (result.exitCode !== 0)
        throw this.campaign.violation(
          'schedule-exit',
          `schedule stopped by SIGTERM exited ${result.exitCode}: ${this.campaign.whyFailed(result)}`,
        );
    }
    this.lastRuns = runIds;
    return result;
  }

  // After a schedule: the runs it started (in the order it started them) began each later by the
  // clock than the one before.
  async check(ws, step) {
    if (step?.op !== 'schedule' || this.lastRuns === undefined || this.lastRuns.length < 2) return;
    const listed = await this.campaign.cli(['history', '--plan', 'campaign', '--limit', '100000']);
    const startedAt = new Map(
      listed.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line))
        .map((run) => [run.id, run.startedAt]),
    );
    const runs = this.lastRuns.filter((id) => startedAt.has(id));
    for (let i = 1; i < runs.length; i++) {
      const [before, after] = [startedAt.get(runs[i - 1]), startedAt.get(runs[i])];
      if (Date.parse(after) <= Date.parse(before))
        throw this.campaign.violation(
          'schedule-ran-twice',
          `scheduled run ${runs[i]} began at ${after}, not after run ${runs[i - 1]} (${before}): a time ran twice`,
        );
    }
  }

  summary() {
    return [
      `clock: jumps back ${this.jumps.back}, forward ${this.jumps.forward}; schedules stopped ${this.schedules.stopped}, killed ${this.schedules.killed}, their runs ${this.schedules.runs}, clock-set-back notes ${this.schedules.setBackNotes}`,
    ];
  }
}
