// `sendense-run api` serving (docs/api.md#serving-it): the state folder made private, the tasks of
// an earlier server recovered, the server built and listening, then running until SIGINT/SIGTERM.

import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ApiFiles } from '../api/files-port.js';
import type { TaskManager } from '../api/tasks.js';
import type { ApiTls } from '../api/tls.js';
import { SendenseError } from '../errors.js';
import type { HubConfig } from '../hub/hub-config.js';
import { findPackageRoot, packageVersion } from '../node/package-root.js';
import { openStore, type Store } from '../store/index.js';
import { apiEventsTo, type SayApiEvent } from './api-events.js';
import { startScheduler } from './api-scheduler.js';
import { untilStopped } from './api-signals.js';
import type { CliContext } from './context.js';

export interface ServeApi {
  readonly hub: HubConfig;
  readonly stateDir: string;
  readonly paths: readonly string[];
  readonly listen: { readonly host: string; readonly port: number };
  readonly plainHttp: boolean;
  readonly schedule: boolean;
}

export async function serveApi(cli: CliContext, serve: ServeApi): Promise<void> {
  const { hub, stateDir, paths, listen } = serve;
  const [
    { apiTls, certificateFingerprint },
    { Authenticator },
    { TaskManager },
    { PlanSet },
    { buildApiServer },
    { openFilesForApi },
    { consoleRoutes },
    { makePrivateDir },
  ] = await Promise.all([
    import('../api/tls.js'),
    import('../api/auth.js'),
    import('../api/tasks.js'),
    import('../api/plan-set.js'),
    import('../api/server.js'),
    import('../api/files-for-api.js'),
    import('../api/console-assets.js'),
    import('../api/state-dir.js'),
  ]);
  // The state folder and its tasks/ checked first, with or without TLS: one others could enter is
  // made 0700 and said (one of another user's is refused).
  const tightened: { folder: string; was: string }[] = [];
  for (const folder of [stateDir, path.join(stateDir, 'tasks')])
    makePrivateDir(folder, (was) => tightened.push({ folder, was }));
  const tls = serve.plainHttp ? undefined : await apiTls(hub, stateDir);
  const store = await openStore(cli.dbPath, { hub: hub.name });
  const say = apiEventsTo(cli);
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
  await recoverTasks(tasks, say);
  const plans = new PlanSet(paths.map((given) => path.resolve(given)));
  const files = openFilesForApi(store);
  const auth = new Authenticator(store);
  const version = packageVersion();
  const app = await listenOrClose(listen, files, store, () =>
    buildApiServer(
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
    ),
  );
  const fingerprint = tls ? certificateFingerprint(tls.cert) : undefined;
  sayListening(say, { listen, tls, fingerprint, paths, plans: (await plans.all()).length });
  for (const problem of await plans.pathProblems()) say({ type: 'invalid', level: 'error', message: problem });
  const scheduler = serve.schedule ? startScheduler(cli, commonArgs, paths, say) : undefined;
  await untilStopped({ app, tasks, plans, files, scheduler, say });
  await store.close();
  say({ type: 'stopped', level: 'info', message: 'stopped' });
}

// Tasks of an earlier server: lost when its process is gone, left alone when another still runs.
async function recoverTasks(tasks: TaskManager, say: SayApiEvent): Promise<void> {
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
}

// The server built and listening; if either fails, what was opened is closed and one error says why.
async function listenOrClose(
  listen: ServeApi['listen'],
  files: ApiFiles,
  store: Store,
  build: () => Promise<FastifyInstance>,
): Promise<FastifyInstance> {
  let app: FastifyInstance | undefined;
  try {
    app = await build();
    await app.listen({ host: listen.host, port: listen.port });
    return app;
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
}

function sayListening(
  say: SayApiEvent,
  facts: {
    readonly listen: ServeApi['listen'];
    readonly tls: ApiTls | undefined;
    readonly fingerprint: string | undefined;
    readonly paths: readonly string[];
    readonly plans: number;
  },
): void {
  const { listen, tls, fingerprint, paths, plans } = facts;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const url = `${tls ? 'https' : 'http'}://${host}:${listen.port}`;
  say({
    type: 'listening',
    level: 'info',
    url,
    ...(fingerprint ? { fingerprint, certificate: tls!.certFile, selfSigned: tls!.selfSigned } : {}),
    plans,
    message: `listening on ${url}${fingerprint ? ` (certificate SHA-256 ${fingerprint}${tls!.created ? ', made now' : ''})` : ' (plain HTTP, loopback only)'}; ${plans} plan(s) from ${paths.length === 0 ? 'no path' : paths.join(' ')}`,
  });
}
