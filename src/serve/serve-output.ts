// What `serve` prints (docs/instant-recovery.md, docs/json-events.md): one `KEY URL` line per disk
// on stdout and its notes on stderr, or with --json one `serving` object then one `stopped`.

import type { Output } from '../engine/output.js';
import type { Serving } from './serve-point.js';

export function printServing(out: Output, vm: string, serving: Serving): void {
  const { backup, disks } = serving;
  if (out.json) {
    const tls = serving.tls === undefined ? {} : { tlsPskFile: serving.tls.pskFile, tlsUsername: serving.tls.username };
    out.stdout.write(`${JSON.stringify({ type: 'serving', vm, backupId: backup.id, disks, ...tls })}\n`);
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
  if (out.json) out.stdout.write(`${JSON.stringify({ type: 'stopped', vm, backupId: serving.backup.id })}\n`);
  note(out, `stopped serving VM ${vm}${serving.disks.some((disk) => disk.writable) ? '; overlays removed' : ''}`);
}

function note(out: Output, line: string): void {
  if (!out.quiet) out.stderr.write(`${line}\n`);
}
