// The files command's session options (docs/file-level-restore.md#files-sessions): `files
// --sessions` lists this host's files sessions, `files --stop-sessions [VM]` ends them, and
// `files --serve-session` is the session itself, started by `files` (not for direct use).

import { usageError } from '../errors.js';
import { parseDiskOption } from '../files/backup-point.js';
import { askSessionInfo, DEFAULT_IDLE_SECONDS } from '../files/session/session-client.js';
import { serveSession } from '../files/session/session-server.js';
import { isSessionAlive, sessionsHere, stopSession } from '../files/session/session-record.js';
import { openStore } from '../store/index.js';
import { declareOptions, parseCommandOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';

export const FILES_SESSION_OPTIONS = declareOptions([
  {
    name: '--session',
    help: 'keep the point open in a files session even when no terminal is attached (also: SENDENSE_FILES_SESSION=on)',
  },
  {
    name: '--no-session',
    help: 'open the point for this command only, even at a terminal (also: SENDENSE_FILES_SESSION=off)',
  },
  {
    name: '--session-idle',
    value: 'S',
    help: `a files session this command starts ends after S seconds unused (default ${DEFAULT_IDLE_SECONDS}; 1 to 86400)`,
  },
  {
    name: '--sessions',
    help: "list this host's files sessions, the API's browse sessions too: PID, point, appliance, calls, idle timeout",
  },
  {
    name: '--stop-sessions',
    help: "end this host's files sessions (of VM when given): a call one is serving fails as interrupted",
  },
]);

// The session process's own words, given by files when it starts one.
const SERVE_OPTIONS = declareOptions([
  { name: '--serve-session', help: 'be the files session of the point (started by files)' },
  { name: '--backup', value: 'ID', help: 'the backup' },
  { name: '--disk', value: 'KEY', help: 'the disk key' },
  { name: '--repository', value: 'PATH', help: 'the repository' },
  { name: '--session-idle', value: 'S', help: 'seconds unused before it ends' },
]);

/**
 * Whether a files call goes through a session (docs/file-level-restore.md#files-sessions):
 * --session or --no-session, else SENDENSE_FILES_SESSION (on, off, auto), else auto: only when
 * someone is at a terminal, so scripts, pipes and cron jobs leave no appliance behind them.
 */
export function sessionWanted(on: boolean, off: boolean, env: NodeJS.ProcessEnv, interactive: boolean): boolean {
  if (on && off) throw usageError('give --session or --no-session, not both');
  if (on || off) return on;
  const setting = env.SENDENSE_FILES_SESSION ?? '';
  if (!['', 'auto', 'on', 'off'].includes(setting))
    throw usageError(`SENDENSE_FILES_SESSION must be on, off or auto (got '${setting}')`);
  return setting === 'on' || ((setting === '' || setting === 'auto') && interactive);
}

export function parseIdleSeconds(text: string | undefined): number {
  if (text === undefined) return DEFAULT_IDLE_SECONDS;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 86_400)
    throw usageError(`--session-idle: seconds from 1 to 86400 (got '${text}')`);
  return Number(text);
}

/** The session process, when `args` ask for it (`--serve-session`); undefined for anything else. */
export function filesSessionCommand(args: readonly string[]): ((cli: CliContext) => Promise<number>) | undefined {
  return args.includes('--serve-session') ? (cli) => serve(cli, args) : undefined;
}

/** `files --sessions --json`: a session of this user's on this host. */
export interface SessionLine {
  readonly type: 'files-session';
  /** files: a `files` command's session; api: a browse session of the API server `pid`. */
  readonly via: 'files' | 'api';
  readonly pid: number;
  readonly vm: string;
  readonly backupId: string;
  readonly disk: number;
  readonly repository: string;
  readonly state: string;
  readonly appliancePid: number | null;
  readonly appliancesStarted: number | null;
  readonly calls: number | null;
  readonly idleSeconds: number;
  readonly since: string;
  readonly dir: string;
}

/** `files --stop-sessions --json`: a session stopped. */
export interface SessionStoppedLine {
  readonly type: 'files-session-stopped';
  readonly pid: number;
  readonly vm: string;
  readonly backupId: string;
  readonly wasRunning: boolean;
}

export async function listSessions(cli: CliContext, operands: readonly string[]): Promise<number> {
  if (operands.length > 0) throw usageError(`files --sessions takes nothing more (got '${operands[0]}')`);
  return withExistingStore(cli, async (store) => {
    const rows: string[][] = [];
    for (const session of await sessionsHere(store)) {
      const running = isSessionAlive(session);
      const viaApi = session.via === 'api';
      // An API session has no socket to ask: the API server keeps it open while it is recorded.
      const info = running && !viaApi ? await askSessionInfo(session) : undefined;
      const shown = {
        via: viaApi ? ('api' as const) : ('files' as const),
        pid: session.pid,
        vm: session.vm,
        backupId: session.backupId,
        disk: session.diskKey,
        repository: session.repository,
        state: !running ? 'gone' : viaApi || info !== undefined ? 'open' : 'opening',
        appliancePid: info?.appliancePid ?? session.appliancePid ?? null,
        appliancesStarted: info?.appliancesStarted ?? null,
        calls: info?.calls ?? null,
        idleSeconds: session.idleSeconds,
        since: session.since,
        dir: session.dir,
      };
      if (cli.json) printJson<SessionLine>(cli, { type: 'files-session', ...shown });
      else
        rows.push([
          String(shown.pid),
          shown.vm,
          shown.backupId,
          String(shown.disk),
          `${shown.state === 'gone' ? 'gone (doctor removes it)' : shown.state}${viaApi ? ' (API)' : ''}`,
          shown.appliancePid === null ? '-' : String(shown.appliancePid),
          shown.calls === null ? '-' : String(shown.calls),
          `${shown.idleSeconds} s`,
        ]);
    }
    if (!cli.json) {
      if (rows.length === 0) cli.stdout.write('no files sessions on this host\n');
      else printRows(cli, ['PID', 'VM', 'BACKUP', 'DISK', 'STATE', 'APPLIANCE', 'CALLS', 'IDLE'], rows);
    }
    return 0;
  });
}

export async function stopSessions(cli: CliContext, operands: readonly string[]): Promise<number> {
  const [vm, ...extra] = operands;
  if (extra.length > 0) throw usageError(`files --stop-sessions takes at most one VM (got '${extra[0]}' too)`);
  return withExistingStore(cli, async (store) => {
    const sessions = await sessionsHere(store, vm);
    for (const session of sessions) {
      const wasRunning = await stopSession(store, session);
      if (cli.json)
        printJson<SessionStoppedLine>(cli, {
          type: 'files-session-stopped',
          pid: session.pid,
          vm: session.vm,
          backupId: session.backupId,
          wasRunning,
        });
      else
        cli.stdout.write(
          `${wasRunning ? 'stopped' : 'removed what was left of'} files session pid ${session.pid} (VM ${session.vm}, backup ${session.backupId}, disk ${session.diskKey})\n`,
        );
    }
    if (!cli.json && sessions.length === 0)
      cli.stdout.write(`no files sessions${vm === undefined ? '' : ` of VM ${vm}`} on this host\n`);
    return 0;
  });
}

// The session process: its point as `files` resolved it; its key (if any) on stdin.
async function serve(cli: CliContext, args: readonly string[]): Promise<number> {
  const given = parseCommandOptions(args, { name: 'files --serve-session', options: SERVE_OPTIONS });
  const backup = given.value('--backup');
  const repository = given.value('--repository');
  const [vm, ...extra] = given.operands;
  const diskKey = parseDiskOption(given.value('--disk'));
  if (vm === undefined || extra.length > 0 || !backup || diskKey === undefined || !repository)
    throw usageError('files --serve-session is started by files itself (VM --backup ID --disk KEY --repository PATH)');
  const store = await openStore(cli.dbPath);
  return serveSession(
    store,
    {
      dbPath: cli.dbPath,
      point: { vm, backupId: backup, diskKey, repository },
      idleSeconds: parseIdleSeconds(given.value('--session-idle')),
    },
    { input: process.stdin, output: process.stdout },
  );
}

function printRows(cli: CliContext, header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  cli.stdout.write(`${line(header)}\n`);
  for (const row of rows) cli.stdout.write(`${line(row)}\n`);
}
