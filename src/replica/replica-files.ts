// The file work on the replica node (docs/replication.md#the-replica-on-disk), each a short shell
// script run there with its paths as arguments (never interpolated). Every step can run again
// after a crash: doctor finishes an install or a fold by calling the same function.
//
//   new layer   <layer of the new point>, a qcow2 whose backing is the previous point's layer
//   install     a second name for it, renamed over replica.path (atomic): the newest point
//   fold        the point after the oldest written into the oldest's file (qemu-img commit -d:
//               the newer layer is never changed), then that file renamed over the newer layer

import path from 'node:path';
import { SendenseError } from '../errors.js';
import type { NodeExec } from '../libvirt/virsh.js';
import { commitIntoBackingArgv, createQcow2Argv, createQcow2OverArgv, shellCommand } from '../qemu/command-lines.js';
import { renameTemp } from './replica-layout.js';
import { foldedManifestPath, replicaManifestPath } from './replica-manifest.js';

async function script(exec: NodeExec, text: string, args: readonly string[], what: string): Promise<string> {
  const result = await exec(['sh', '-c', `set -e; ${text}`, 'sh', ...args]);
  if (result.exitCode !== 0)
    throw new SendenseError(
      `${what}: ${result.stderr.trim().split('\n').slice(-3).join(' | ') || `exit code ${result.exitCode}`}`,
    );
  return result.stdout;
}

// The new point's layer: refused if the name exists (another point's), private from the start.
export async function createLayer(
  exec: NodeExec,
  layer: string,
  options: { readonly backing?: string; readonly virtualSize: number },
): Promise<void> {
  const create =
    options.backing === undefined
      ? shellCommand(createQcow2Argv('$1', '$3'))
      : shellCommand(createQcow2OverArgv('$1', '$2'));
  await script(
    exec,
    // A symlink there, even one to nothing, is refused too: qemu-img would create the file it names (docs/threat-model.md).
    `mkdir -p -- "$(dirname -- "$1")"; if [ -e "$1" ] || [ -L "$1" ]; then echo "$1 already exists" >&2; exit 1; fi; (umask 077; ${create})`,
    [layer, backingName(layer, options.backing), String(options.virtualSize)],
    `cannot create ${layer} on the replica node`,
  );
}

// The backing file by its name in the same directory, so the replica's directory can move; by its
// absolute path from elsewhere (a drill's overlay in its own directory, docs/drills.md#a-replicas-point).
function backingName(layer: string, backing: string | undefined): string {
  if (backing === undefined) return '';
  return path.dirname(layer) === path.dirname(backing) ? path.basename(backing) : backing;
}

// replica.path becomes this layer: a hard link to it renamed over the path, the directory synced.
export async function installLayer(exec: NodeExec, layer: string, replicaPath: string): Promise<void> {
  await script(
    exec,
    'if [ "$1" -ef "$2" ]; then exit 0; fi; ln -f -- "$1" "$3"; mv -fT -- "$3" "$2"; sync -- "$(dirname -- "$2")"',
    [layer, replicaPath, renameTemp(replicaPath)],
    `cannot make ${layer} the newest point at ${replicaPath}`,
  );
}

// Folds `oldest` into `next` (its child): afterwards `next`'s name holds a whole image of the next
// point and the oldest point is gone. When `next` is the newest point, replica.path is moved along.
// The folded manifest (fold-manifest.ts, written before) goes over the next point's once the layer has.
export async function foldLayer(
  exec: NodeExec,
  oldest: string,
  next: string,
  replicaPath: string | undefined,
): Promise<void> {
  await script(
    exec,
    [
      `if [ -e "$1" ]; then ${shellCommand(commitIntoBackingArgv('$2'))}; mv -fT -- "$1" "$2"; sync -- "$(dirname -- "$2")"; fi`,
      'if [ -e "$5" ]; then mv -fT -- "$5" "$6"; sync -- "$(dirname -- "$6")"; fi',
      'rm -f -- "$7"',
      'if [ -n "$3" ] && ! [ "$2" -ef "$3" ]; then ln -f -- "$2" "$4"; mv -fT -- "$4" "$3"; fi',
    ].join('; '),
    [
      oldest,
      next,
      replicaPath ?? '',
      replicaPath === undefined ? '' : renameTemp(replicaPath),
      foldedManifestPath(next),
      replicaManifestPath(next),
      replicaManifestPath(oldest),
    ],
    `cannot fold ${oldest} into ${next} on the replica node`,
  );
}

// Removes layer files and their manifests (a failed sync's, or a point of an older chain nothing builds on).
export async function removeLayers(exec: NodeExec, layers: readonly string[]): Promise<void> {
  if (layers.length === 0) return;
  const manifests = layers.map(replicaManifestPath);
  await script(
    exec,
    'rm -f -- "$@"',
    [...layers, ...manifests],
    `cannot remove ${layers.join(', ')} on the replica node`,
  );
}

// Which of these files exist on the replica node.
export async function existingFiles(exec: NodeExec, files: readonly string[]): Promise<ReadonlySet<string>> {
  if (files.length === 0) return new Set();
  const out = await script(
    exec,
    'for f in "$@"; do if [ -e "$f" ]; then printf "%s\\n" "$f"; fi; done',
    files,
    'cannot look at the replica node',
  );
  return new Set(out.split('\n').filter(Boolean));
}

// Whether `a` and `b` are the same file (replica.path installed).
export async function sameFile(exec: NodeExec, a: string, b: string): Promise<boolean> {
  const result = await exec(['test', a, '-ef', b]);
  return result.exitCode === 0;
}
