// What `serve` prints (docs/instant-recovery.md, docs/json-events.md): one `KEY URL` line per disk
// on stdout and its notes on stderr, or with --json one `serving` object then one `stopped`.

import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import type { Output } from '../engine/output.js';
import type { ServedDisk, Serving } from './serve-point.js';

type ServeLine =
  | {
      readonly type: 'serving';
      readonly vm: string;
      readonly backupId: string;
      readonly disks: readonly ServedDisk[];
      readonly tlsPskFile?: string;
      readonly tlsUsername?: string;
    }
  | { readonly type: 'stopped'; readonly vm: string; readonly backupId: string };

/** serve's section of docs/json-events.md. */
export const SERVE_JSON: JsonOutput = {
  intro:
    'A `serving` once every disk is served, a `stopped` after Ctrl+C, SIGTERM or SIGHUP when all is given back. A failure (a `qemu-nbd` that died, say) is the usual `{ "type": "error", … }` instead ([instant-recovery.md](instant-recovery.md)).',
  lines: typedLines<ServeLine>({
    serving: {
      when: 'every disk is served',
      fields: {
        vm: '',
        backupId: '',
        disks:
          "`[{ key, url, file, overlay?, writable }]` (`file`: the point's file in the repository; `overlay`: where the writes go, with `--writable` only; `url`: `nbd+unix:///NAME?socket=PATH`, a socket on the node with `--node`; with `--tcp`, `nbds://sendense@127.0.0.1:PORT/NAME?tls-psk-file=FILE`)",
        tlsPskFile: '`--tcp` only: the key file clients need',
        tlsUsername: '`--tcp` only: their TLS user',
      },
    },
    stopped: { when: 'all is given back', fields: { vm: '', backupId: '' } },
  }),
};

export function printServing(out: Output, vm: string, serving: Serving): void {
  const { backup, disks } = serving;
  if (out.json) {
    const tls = serving.tls === undefined ? {} : { tlsPskFile: serving.tls.pskFile, tlsUsername: serving.tls.username };
    printJson<ServeLine>(out, { type: 'serving', vm, backupId: backup.id, disks, ...tls });
  } else {
    for (const disk of disks) out.stdout.write(`${disk.key} ${disk.url}\n`);
  }
  const how = disks.some((disk) => disk.writable)
    ? 'writable, over overlays (the backup files are only read)'
    : 'read-only';
  note(out, `serving VM ${vm}, backup ${backup.id} of ${backup.startedAt}, ${how}, on ${serving.where}:`);
  for (const disk of disks)
    note(
      out,
      `  disk ${disk.key}: ${disk.file}${disk.overlay === undefined ? '' : `, writes to ${disk.overlay} (removed when serving stops)`}`,
    );
  if (serving.tls !== undefined) {
    const there =
      serving.where === 'this host' ? '' : ` (on this host: copy it to ${serving.where} for a client there)`;
    note(
      out,
      `NBD TLS: a client needs the pre-shared key in ${serving.tls.pskFile}${there}, user ${serving.tls.username}; the file goes when serving stops`,
    );
  }
  note(out, 'Ctrl+C (or SIGTERM) stops serving');
}

export function printStopped(out: Output, vm: string, serving: Serving): void {
  if (out.json) printJson<ServeLine>(out, { type: 'stopped', vm, backupId: serving.backup.id });
  note(out, `stopped serving VM ${vm}${serving.disks.some((disk) => disk.writable) ? '; overlays removed' : ''}`);
}

function note(out: Output, line: string): void {
  if (!out.quiet) out.stderr.write(`${line}\n`);
}
