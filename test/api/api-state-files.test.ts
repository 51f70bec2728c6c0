// Who may read the hub's state (docs/threat-model.md, docs/api.md#serving-it): the state database
// and its -wal and -shm are 0600 in a 0700 folder whoever makes them first (a command or the API);
// the API's own folder is 0700: an existing one of this user's that others may enter is tightened (said),
// one of another user's, or a symlink to an open one, is refused in one line and left as it was.

import { chmodSync, chownSync, existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { addApiToken, apiDir, startApiServer, type ApiServer } from '../support/api-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const ws = useRunWorkspace('sendense-api-state-files-', { per: 'file' });
const servers: ApiServer[] = [];
const NOBODY = 65534;

afterAll(async () => {
  for (const server of servers) await server.stop();
});

const mode = (file: string) => (statSync(file).mode & 0o777).toString(8).padStart(4, '0');

function emptyPlans(): string {
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans, { recursive: true });
  return plans;
}

function hubConfig(name: string, stateDir: string): string {
  const file = path.join(ws.dir, `${name}.yaml`);
  writeFileSync(file, `api:\n  stateDir: ${stateDir}\n`);
  return file;
}

async function serve(db: string, args: readonly string[] = []): Promise<ApiServer> {
  const server = await startApiServer({ db, plans: [emptyPlans()], args });
  servers.push(server);
  return server;
}

// The state files while a server holds the database open (its -wal and -shm exist then).
function stateModes(db: string): Record<string, string> {
  const files = [path.dirname(db), db, `${db}-wal`, `${db}-shm`, apiDir(db), path.join(apiDir(db), 'tasks')];
  for (const file of files) expect(existsSync(file), file).toBe(true);
  return Object.fromEntries(files.map((file) => [path.relative(ws.dir, file), mode(file)]));
}

it('a state database made by a command, or by the API, is 0600 with its -wal and -shm, in a 0700 folder', async () => {
  const byCommand = path.join(ws.dir, 'by-command', 'state.db');
  await addApiToken(byCommand, 'admin', 'admin');
  await serve(byCommand);
  expect(stateModes(byCommand)).toEqual({
    'by-command': '0700',
    'by-command/state.db': '0600',
    'by-command/state.db-wal': '0600',
    'by-command/state.db-shm': '0600',
    'by-command/api': '0700',
    'by-command/api/tasks': '0700',
  });

  const byApi = path.join(ws.dir, 'by-api', 'state.db');
  await serve(byApi);
  expect(stateModes(byApi)).toEqual({
    'by-api': '0700',
    'by-api/state.db': '0600',
    'by-api/state.db-wal': '0600',
    'by-api/state.db-shm': '0600',
    'by-api/api': '0700',
    'by-api/api/tasks': '0700',
  });
}, 120_000);

it('an existing api.stateDir of this user that others may enter is tightened to 0700, and the server says so', async () => {
  const stateDir = path.join(ws.dir, 'open-api');
  mkdirSync(stateDir, { mode: 0o755 });
  chmodSync(stateDir, 0o755);
  mkdirSync(path.join(stateDir, 'tasks'), { mode: 0o751 });
  chmodSync(path.join(stateDir, 'tasks'), 0o751);
  const server = await serve(path.join(ws.dir, 'open-api.db'), ['--hub-config', hubConfig('open-api', stateDir)]);
  expect(mode(stateDir)).toBe('0700');
  expect(mode(path.join(stateDir, 'tasks'))).toBe('0700');
  const said = server
    .output()
    .split('\n')
    .filter((line) => line.includes('"type":"tightened"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(said).toEqual([
    {
      type: 'tightened',
      level: 'warning',
      folder: stateDir,
      was: '0755',
      message: `the API's state folder ${stateDir} was mode 0755, open to other users: made 0700 (docs/api.md#serving-it)`,
    },
    expect.objectContaining({ folder: path.join(stateDir, 'tasks'), was: '0751' }),
  ]);
}, 120_000);

it.skipIf(process.getuid?.() !== 0)(
  "an open api.stateDir of another user's, or a symlink to an open one, is refused in one line and left alone",
  async () => {
    const theirs = path.join(ws.dir, 'their-api');
    mkdirSync(theirs);
    chmodSync(theirs, 0o755);
    chownSync(theirs, NOBODY, NOBODY);
    const link = path.join(ws.dir, 'linked-api');
    const target = path.join(ws.dir, 'link-target');
    mkdirSync(target);
    chmodSync(target, 0o755);
    symlinkSync(target, link);
    for (const [dir, why] of [
      [theirs, `is open to other users \\(mode 0755\\) and owned by uid ${NOBODY}, not by this user \\(uid 0\\)`],
      [link, 'is a symlink to a directory of mode 0755: others may enter it'],
    ] as const) {
      const starting = serve(path.join(ws.dir, `${path.basename(dir)}.db`), [
        '--hub-config',
        hubConfig(path.basename(dir), dir),
      ]);
      const refused = await starting.then(
        () => 'it started',
        (error: Error) => error.message,
      );
      expect(refused).toMatch(
        new RegExp(`ended \\(exit 1\\) before listening:\\nsendense-run: the API's state folder ${dir} .*${why}`),
      );
      expect(refused).not.toMatch(/\bat .*\.(js|ts):\d+/);
    }
    expect(mode(theirs)).toBe('0755');
    expect(statSync(theirs).uid).toBe(NOBODY);
    expect(mode(target)).toBe('0755');
  },
  120_000,
);
