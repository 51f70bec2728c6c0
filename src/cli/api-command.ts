// `sendense-run api [FILE|DIR...]`: the hub as an HTTP API (docs/api.md) for the plans found there,
// in the foreground until SIGINT/SIGTERM (running tasks are cancelled and clean up first); SIGHUP
// reads the plans again. `api fingerprint` prints the SHA-256 fingerprint of its certificate.

import { usageError } from '../errors.js';
import { DEFAULT_API_LISTEN, isLoopback, parseListen } from '../hub/hub-api-config.js';
import { loadHubConfig, type HubConfig } from '../hub/hub-config.js';
import type { ApiLine } from './api-events.js';
import { serveApi } from './api-serve.js';
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
  const { apiStateDir } = await import('../api/state-dir.js');
  const stateDir = apiStateDir(cli.dbPath, hub);
  const args = given.operands;
  if (args[0] === 'fingerprint') return printFingerprint(cli, hub, stateDir, args[1] ?? given.named[0]);
  const listenOption = given.value('--listen');
  const listen = listenOption === undefined ? (hub.api?.listen ?? DEFAULT_API_LISTEN) : parseListen(listenOption);
  if (listen === undefined) throw usageError(`--listen must be HOST:PORT, e.g. 127.0.0.1:8420 (got '${listenOption}')`);
  const plainHttp = given.flag('--plain-http') || hub.api?.plainHttp === true;
  if (plainHttp && !isLoopback(listen.host))
    throw usageError(
      `plain HTTP is allowed only on a loopback address (listen is ${listen.host}): use TLS, the default`,
    );
  await serveApi(cli, { hub, stateDir, paths: args, listen, plainHttp, schedule: given.flag('--schedule') });
  return 0;
}

// `api fingerprint`: the certificate's SHA-256 fingerprint (the self-signed one made if none yet).
async function printFingerprint(
  cli: CliContext,
  hub: HubConfig,
  stateDir: string,
  extra: string | undefined,
): Promise<number> {
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
