// `sendense-run api [FILE|DIR...]`: the hub as an HTTP API (docs/api.md) for the plans found there,
// in the foreground until SIGINT/SIGTERM (running tasks are cancelled and clean up first); SIGHUP
// reads the plans again. `api fingerprint` prints the SHA-256 fingerprint of its certificate.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { SendenseError, usageError } from '../errors.js';
import { DEFAULT_API_LISTEN, isLoopback, parseListen } from '../hub/hub-api-config.js';
import { loadHubConfig } from '../hub/hub-config.js';
import { findPackageRoot, packageVersion } from '../node/package-root.js';
import { signalProcess } from '../process/terminate-process.js';
import { openStore } from '../store/index.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';

const OPTIONS = declareOptions([
  {
    name: '--listen',
    value: 'HOST:PORT',
    help: 'where to listen (default: api.listen of the hub config, else 127.0.0.1:8420)',
  },
  { name: '--plain-http', help: 'plain HTTP instead of TLS: only on a loopback address' },
  { name: '--schedule', help: 'also run the plans with a schedule at their times, as `sendense-run schedule` does' },
]);

type ApiLine =
  | {
      readonly type: 'fingerprint';
      readonly sha256: string;
      readonly certificate: string;
      readonly selfSigned: boolean;
      readonly created: boolean;
    }
  | ApiEvent;

// What the server says as it runs: a line for people (`message`) with its level and facts.
type ApiEvent = { readonly level: 'info' | 'warning' | 'error'; readonly message: string } & (
  | { readonly type: 'lost-tasks'; readonly count: number }
  | { readonly type: 'other-tasks'; readonly count: number }
  | {
      readonly type: 'listening';
      readonly url: string;
      readonly fingerprint?: string;
      readonly certificate?: string;
      readonly selfSigned?: boolean;
      readonly plans: number;
    }
  | { readonly type: 'invalid' }
  | { readonly type: 'tightened'; readonly folder: string; readonly was: string }
  | { readonly type: 'reloading' }
  | { readonly type: 'stopped' }
  | { readonly type: 'schedule-ended' }
  | { readonly type: 'stopping'; readonly signal?: string }
);

const SAID = { level: '`info`, `warning` or `error`', message: 'one line for people' } as const;

const JSON_OUTPUT: JsonOutput = {
  intro:
    "`api fingerprint`: one `fingerprint`. The server: a line per event of its own, each with `level` and `message`; with `--schedule` the scheduler's lines too (`schedule --json`).",
  lines: typedLines<ApiLine>({
    fingerprint: {
      when: '`api fingerprint`',
      fields: {
        sha256: "the certificate's SHA-256 fingerprint",
        certificate: 'its file',
        selfSigned: '',
        created: 'made now',
      },
    },
    'lost-tasks': {
      when: 'at start: tasks of a server that ended were running, their process gone (marked lost)',
      fields: { ...SAID, count: '' },
    },
    'other-tasks': {
      when: 'at start: tasks of another server still running (left to it; their end is read from the store)',
      fields: { ...SAID, count: '' },
    },
    listening: {
      when: 'the server listens',
      fields: {
        ...SAID,
        url: '',
        fingerprint: "with TLS: the certificate's SHA-256 fingerprint",
        certificate: 'with TLS: its file',
        selfSigned: 'with TLS',
        plans: 'how many plans it serves',
      },
    },
    invalid: { when: 'a path of plans it cannot read', fields: SAID },
    tightened: {
      when: "at start: the API's state folder (or its tasks/) was open to other users: made 0700",
      fields: { ...SAID, folder: '', was: 'its mode before, e.g. 0755' },
    },
    reloading: { when: 'SIGHUP: plans read again', fields: SAID },
    stopping: { when: 'SIGINT or SIGTERM (again: still cleaning up)', fields: { ...SAID, signal: 'the first time' } },
    stopped: { when: 'all is given back', fields: SAID },
    'schedule-ended': { when: '`--schedule`: the scheduler ended', fields: SAID },
  }),
};

export const apiCommand: CommandSpec = defineCommand({
  name: 'api',
  usage: 'sendense-run api [FILE|DIR...] [--listen HOST:PORT] [--plain-http] [--schedule] | api fingerprint',
  does:
    'Serve the hub as an HTTPS API (docs/api.md) for the plans found in FILE|DIR (as schedule finds them), in the\n' +
    "foreground; tokens from `sendense-run token add`. Without api.tls in the hub config the hub's own self-signed\n" +
    'certificate is made once; `api fingerprint` prints its SHA-256 fingerprint. SIGHUP re-reads the plans;\n' +
    'SIGINT/SIGTERM cancel running tasks, wait for their cleanup and exit 0.',
  options: OPTIONS,
  exitCodes: [
    { code: 0, when: 'stopped cleanly by SIGINT or SIGTERM (or the fingerprint printed)' },
    {
      code: 1,
      when: 'the server could not start (the address is taken, the certificate cannot be read or made, the state database cannot be opened)',
    },
    {
      code: 2,
      when: 'a usage error (an unknown option, a listen address that is not HOST:PORT, plain HTTP off loopback)',
    },
  ],
  json: JSON_OUTPUT,
  run: runApi,
});

async function runApi(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  const hub = loadHubConfig(cli.hubConfig);
  const { apiStateDir, makePrivateDir } = await import('../api/state-dir.js');
  const stateDir = apiStateDir(cli.dbPath, hub);
  const args = given.operands;
  if (args[0] === 'fingerprint') {
    const extra = args[1] ?? given.named[0];
    if (extra !== undefined) throw usageError(`api fingerprint takes no arguments (got '${extra}')`);
    const { apiTls, certificateFingerprint } = await import('../api/tls.js');
    const tls = await apiTls(hub, stateDir);
    const fingerprint = certificateFingerprint(tls.cert);
    if (cli.json)
      printJson<ApiLine>(cli, {
        type: 'fingerprint',
        sha256: fingerprint,
        certificate: tls.certFile,
        selfSigned: tls.selfSigned,
        created: tls.created,
      });
    else cli.stdout.write(`${fingerprint}\n`);
    return 0;
  }
  const paths = args;
  const listenOption = given.value('--listen');
  const listen = listenOption === undefined ? (hub.api?.listen ?? DEFAULT_API_LISTEN) : parseListen(listenOption);
  if (listen === undefined) throw usageError(`--listen must be HOST:PORT, e.g. 127.0.0.1:8420 (got '${listenOption}')`);
  const plainHttp = given.flag('--plain-http') || hub.api?.plainHttp === true;
  if (plainHttp && !isLoopback(listen.host))
    throw usageError(
      `plain HTTP is allowed only on a loopback address (listen is ${listen.host}): use TLS, the default`,
    );

  const [
    { apiTls, certificateFingerprint },
    { Authenticator },
    { TaskManager },
    { PlanSet },
    { buildApiServer },
    { openFilesForApi },
    { consoleRoutes },
  ] = await Promise.all([
    import('../api/tls.js'),
    import('../api/auth.js'),
    import('../api/tasks.js'),
    import('../api/plan-set.js'),
    import('../api/server.js'),
    import('../api/files-for-api.js'),
    import('../api/console-assets.js'),
  ]);
  // The state folder and its tasks/ checked first, with or without TLS: one others could enter is
  // made 0700 and said (one of another user's is refused).
  const tightened: { folder: string; was: string }[] = [];
  for (const folder of [stateDir, path.join(stateDir, 'tasks')])
    makePrivateDir(folder, (was) => tightened.push({ folder, was }));
  const tls = plainHttp ? undefined : await apiTls(hub, stateDir);
  const store = await openStore(cli.dbPath, { hub: hub.name });
  const say = (event: ApiEvent) => {
    if (cli.json) printJson<ApiLine>(cli, event);
    else if (!cli.quiet || event.level === 'error')
      (event.level === 'error' ? cli.stderr : cli.stdout).write(`sendense-run api: ${event.message}\n`);
  };
  for (const { folder, was } of tightened)
    say({
      type: 'tightened',
      level: 'warning',
      folder,
      was,
      message: `the API's state folder ${folder} was mode ${was}, open to other users: made 0700 (docs/api.md#serving-it)`,
    });
  const commonArgs = ['--db', cli.dbPath, ...(cli.hubConfig ? ['--hub-config', cli.hubConfig] : [])];
  const tasks = new TaskManager({ store, hub: hub.name, commonArgs, stateDir });
  const { lost, running } = await tasks.recover();
  if (lost > 0)
    say({
      type: 'lost-tasks',
      level: 'warning',
      count: lost,
      message: `${lost} task(s) of an earlier server were running when it ended: marked lost (see history; run doctor)`,
    });
  if (running > 0)
    say({
      type: 'other-tasks',
      level: 'info',
      count: running,
      message: `${running} task(s) of another server still running: left to it (their end is recorded when they end)`,
    });
  const plans = new PlanSet(paths.map((given) => path.resolve(given)));
  const files = openFilesForApi(store);
  const auth = new Authenticator(store);
  const version = packageVersion();
  let app;
  try {
    app = await buildApiServer(
      {
        store,
        dbPath: cli.dbPath,
        ...(cli.hubConfig ? { hubConfigPath: cli.hubConfig } : {}),
        hub,
        plans,
        tasks,
        files,
      },
      {
        auth,
        version,
        ...(tls ? { tls } : {}),
        log: (line) => cli.stderr.write(`${line}\n`),
        extend: consoleRoutes(path.join(findPackageRoot(), 'dist', 'console')),
      },
    );
    await app.listen({ host: listen.host, port: listen.port });
  } catch (error) {
    await app?.close().catch(() => {});
    await files.closeAll();
    await store.close();
    const why =
      (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
        ? `${listen.host}:${listen.port} is in use`
        : (error as Error).message;
    throw new SendenseError(`api: cannot listen on ${listen.host}:${listen.port}: ${why}`);
  }
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const url = `${tls ? 'https' : 'http'}://${host}:${listen.port}`;
  const fingerprint = tls ? certificateFingerprint(tls.cert) : undefined;
  say({
    type: 'listening',
    level: 'info',
    url,
    ...(fingerprint ? { fingerprint, certificate: tls!.certFile, selfSigned: tls!.selfSigned } : {}),
    plans: (await plans.all()).length,
    message: `listening on ${url}${fingerprint ? ` (certificate SHA-256 ${fingerprint}${tls!.created ? ', made now' : ''})` : ' (plain HTTP, loopback only)'}; ${(await plans.all()).length} plan(s) from ${paths.length === 0 ? 'no path' : paths.join(' ')}`,
  });
  for (const problem of await plans.pathProblems()) say({ type: 'invalid', level: 'error', message: problem });
  const scheduler = given.flag('--schedule') ? startScheduler(cli, commonArgs, paths, say) : undefined;

  await new Promise<void>((resolve) => {
    let stopping = false;
    const onHangup = () => {
      plans.reload();
      if (scheduler?.pid !== undefined) signalProcess(scheduler.pid, 'SIGHUP');
      say({ type: 'reloading', level: 'info', message: 'SIGHUP: plans read again' });
    };
    const onStop = (signal: NodeJS.Signals) => {
      if (stopping) {
        say({ type: 'stopping', level: 'warning', message: `${signal} again: still cleaning up, please wait` });
        return;
      }
      stopping = true;
      say({
        type: 'stopping',
        level: 'info',
        signal,
        message: `${signal} received: no new requests; cancelling ${tasks.runningCount()} running task(s)`,
      });
      void (async () => {
        await app.close().catch(() => {});
        await tasks.stopAll();
        if (scheduler?.pid !== undefined) {
          signalProcess(scheduler.pid, 'SIGTERM');
          await new Promise((done) =>
            scheduler.exitCode !== null || scheduler.signalCode !== null
              ? done(undefined)
              : scheduler.once('close', done),
          );
        }
        await files.closeAll();
        process.off('SIGHUP', onHangup);
        process.off('SIGINT', onStop);
        process.off('SIGTERM', onStop);
        resolve();
      })();
    };
    process.on('SIGHUP', onHangup);
    process.on('SIGINT', onStop);
    process.on('SIGTERM', onStop);
  });
  await store.close();
  say({ type: 'stopped', level: 'info', message: 'stopped' });
  return 0;
}

// --schedule: `sendense-run schedule PATHS` beside the server, as its child (stopped with it).
function startScheduler(
  cli: CliContext,
  commonArgs: readonly string[],
  paths: readonly string[],
  say: (event: ApiEvent) => void,
): ChildProcess {
  const bin = path.join(findPackageRoot(), 'bin', 'sendense-run.js');
  const child = spawn(process.execPath, [bin, ...(cli.json ? ['--json'] : []), ...commonArgs, 'schedule', ...paths], {
    stdio: ['pipe', 'inherit', 'inherit'],
    env: { ...process.env, SENDENSE_STOP_WITH_PARENT: '1' },
  });
  child.stdin?.on('error', () => {});
  child.once('close', (code) => {
    if (code !== 0)
      say({
        type: 'schedule-ended',
        level: 'error',
        message: `the scheduler ended (exit ${code}): plans are no longer run at their times`,
      });
  });
  return child;
}
