// `sendense-run serve VM [--point P] [--disk KEY]... [--writable] [--tcp] [--node [USER@]HOST[:PORT]
// [--identity FILE] [--known-hosts FILE]]` (docs/instant-recovery.md): a point's disks over NBD
// until Ctrl+C, SIGTERM or SIGHUP, recorded as a run so doctor ends what a killed serve left.

import { existsSync } from 'node:fs';
import { isSendenseError, SendenseError, usageError } from '../errors.js';
import { parseDiskOption, parsePointOption } from '../files/backup-point.js';
import { loadHubConfig } from '../hub/hub-config.js';
import { hubPortRange } from '../hub/hub-scope.js';
import { DEFAULT_PORTS } from '../plan/build-parts.js';
import type { DiskKey } from '../plan/types.js';
import { parseNodeOption } from '../serve/node-option.js';
import { overlayDirFor, prepareOverlayDir } from '../serve/overlay-dir.js';
import { printServing, printStopped, SERVE_JSON } from '../serve/serve-output.js';
import { servePoint } from '../serve/serve-point.js';
import { isPostgresUrl } from '../store/database-target.js';
import { openStore } from '../store/index.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { KEY_OPTIONS, keyOption } from './key-option.js';
import { untilAborted, withRecordedRun } from './recorded-run.js';

const OPTIONS = declareOptions([
  {
    name: '--point',
    value: 'P',
    help: 'latest (default), a backup id, or an ISO-8601 time (the newest backup at or before it)',
  },
  {
    name: '--disk',
    value: 'KEY',
    repeatable: true,
    help: 'a disk to serve (repeatable; default: every disk of the point)',
  },
  {
    name: '--writable',
    help: "writes allowed: each disk is served through a qcow2 overlay over the point, in serve-overlays/ beside the SQLite state database (else in the user's state directory), never in a repository; removed when serving stops",
  },
  {
    name: '--tcp',
    help: 'on leased ports of 127.0.0.1 instead of Unix sockets, for a client that needs a port: NBD TLS with a pre-shared key made for this serve, in a 0600 file whose path is printed (the key never is); URLs nbds://sendense@127.0.0.1:PORT/NAME?tls-psk-file=FILE',
  },
  {
    name: '--node',
    value: '[USER@]HOST[:PORT]',
    help: "serve on that node through an SSH tunnel: the URLs are Unix sockets in a private directory there, only the SSH user's (with --tcp: its 127.0.0.1 ports); user: this one, port 22 by default",
  },
  { name: '--identity', value: 'FILE', help: 'the private key for --node (default: the ssh-agent)' },
  { name: '--known-hosts', value: 'FILE', help: "checks the node's host key (default ~/.ssh/known_hosts)" },
  ...KEY_OPTIONS,
]);

export const serveCommand: CommandSpec = defineCommand({
  name: 'serve',
  usage:
    'sendense-run serve VM [--point P] [--disk KEY]... [--writable] [--tcp] [--key-file FILE|--key-env NAME] [--node [USER@]HOST[:PORT] [--identity FILE] [--known-hosts FILE]]',
  does: 'Export each disk of a point over NBD, read-only, on a Unix socket in a private directory (or with --tcp\non 127.0.0.1 behind NBD TLS with a new pre-shared key), and print one line per disk: KEY URL. Stays up until Ctrl+C, SIGTERM or SIGHUP, then stops its qemu-nbd processes,\ncloses the tunnel, releases the ports and removes the overlays. Backup files are never opened for\nwriting; doctor ends what a killed serve left. A point of an encrypted repository needs its key\n(--key-file or --key-env); its exports serve the decrypted disks.',
  options: OPTIONS,
  exitCodes: [
    {
      code: 0,
      when: 'served, then stopped by Ctrl+C, SIGTERM or SIGHUP: its qemu-nbd processes stopped, the tunnel closed, the ports released, the overlays removed',
    },
    {
      code: 1,
      when: 'the point could not be served (no such disk, an unfinished merge, a missing chain file, no free port, the node refused), or a qemu-nbd died while serving (the others are stopped)',
    },
    {
      code: 2,
      when: 'bad --point, --disk or --node; no such VM or backup; the point is encrypted and no key given opens it (nothing was taken); or a usage error',
    },
    { code: 130, when: 'interrupted before serving began (all it had taken given back)' },
  ],
  json: SERVE_JSON,
  run: runServe,
});

async function runServe(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  keyOption(given);
  const node = given.value('--node');
  const identity = given.value('--identity');
  const knownHosts = given.value('--known-hosts');
  const [vm, ...extra] = given.operands;
  if (vm === undefined) throw usageError(`serve needs a VM name (usage: ${serveCommand.usage})`);
  if (extra.length > 0) throw usageError(`serve takes one VM (got '${extra[0]}' too)`);
  if (node === undefined && (identity !== undefined || knownHosts !== undefined))
    throw usageError('--identity and --known-hosts go with --node');
  const nodeSpec = node === undefined ? undefined : parseNodeOption(node, { identity, knownHosts });
  const request = {
    vm,
    point: parsePointOption(given.value('--point')),
    disks: parseDiskKeys(given.values('--disk')),
    node: nodeSpec,
    tcp: given.flag('--tcp'),
  };
  const hub = loadHubConfig(cli.hubConfig);
  const [first, last] = DEFAULT_PORTS.split('-').map(Number) as [number, number];
  const ports = hubPortRange(hub, { first, last });
  // A mistyped --db must not become a new, empty state database.
  if (!isPostgresUrl(cli.dbPath) && !existsSync(cli.dbPath))
    throw new SendenseError(
      `no state database at ${cli.dbPath}: there is no backup of VM ${vm} to serve (give --db or $SENDENSE_DB)`,
    );

  const store = await openStore(cli.dbPath, { hub: hub.name });
  try {
    const overlayDir = given.flag('--writable') ? overlayDirFor(cli.dbPath) : undefined;
    if (overlayDir !== undefined) await prepareOverlayDir(store, overlayDir);
    const record = { plan: 'serve', kind: 'serve', trigger: 'manual' } as const;
    return await withRecordedRun(cli, store, { record, stopOnSignal: { note: 'stopping serving' } }, async (run) => {
      const note = (line: string) => (cli.quiet ? undefined : cli.stderr.write(`${line}\n`));
      const serving = await servePoint(store, run.id, { ...request, overlayDir, ports }, run.signal, note);
      const keys = serving.disks.map((disk) => disk.key).join(', ');
      await store.noteRun(
        run.id,
        `served VM ${vm}, backup ${serving.backup.id}, disk(s) ${keys}${overlayDir === undefined ? ', read-only' : ', writable over overlays'} on ${serving.where}`,
      );
      printServing(cli, vm, serving);
      const died = await Promise.race([serving.died, untilAborted(run.signal)]);
      const failed = (await serving.stop()).find((outcome) => outcome.error !== undefined);
      if (died !== undefined) throw died;
      if (failed !== undefined)
        throw new SendenseError(
          `stopped serving, but could not ${failed.what}: ${failed.error!.message} (sendense-run doctor gives back the rest)`,
        );
      // Ctrl+C, SIGTERM, SIGHUP are how serving ends; anything else (the state database lost) is the run's failure.
      const reason: unknown = run.signal.reason;
      if (!(isSendenseError(reason) && reason.exitCode === 130)) throw reason;
      printStopped(cli, vm, serving);
    });
  } finally {
    await store.close();
  }
}

function parseDiskKeys(values: readonly string[]): readonly DiskKey[] | undefined {
  if (values.length === 0) return undefined;
  const keys = values.map((value) => parseDiskOption(value)!);
  const twice = keys.find((key, index) => keys.indexOf(key) !== index);
  if (twice !== undefined) throw usageError(`--disk ${twice} is given twice`);
  return keys;
}
