// One disk's merge for a copy in a bucket (docs/copies.md#retention-in-a-bucket), worked out on
// the hub: a bucket runs no qemu-img. The two files are brought down into a scratch directory,
// folded by the hub's own qemu-img, and the result put back as new objects.

import { mkdir, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError } from '../errors.js';
import { execLocal } from '../node/local.js';
import { readBacking } from '../qemu/qcow2-header.js';
import { commitIntoBackingArgv, rebaseUnsafeArgv } from '../qemu/command-lines.js';
import { crashPoint } from '../crash-points.js';
import { parseManifest } from '../repository/manifest-file.js';
import { mergedManifestOf, type Sh } from './merge-reads.js';
import { fileBytes, textBytes } from './outgoing-bytes.js';
import { placeFile, type PlaceContext } from './place-file.js';

/** The two points of a merge: the parent merged into its child. */
export interface MergePair {
  readonly parent: string;
  readonly child: string;
}

/** A copy in a bucket: its merges are worked out on the hub, in `scratch`, from files brought down. */
export interface HubPlace extends PlaceContext {
  readonly scratch: string;
  /** A directory in `scratch` recorded before it is made (doctor removes one a killed run left), forgotten once removed. */
  readonly scratchDirs: { record(dir: string): Promise<void>; forget(dir: string): Promise<void> };
  /** The copy's file, its bytes checked as they come, into a file here. */
  download(relative: string, file: string): Promise<void>;
}

// Objects are never changed: the merged file and manifest are put as new objects under the child's
// names, and the parent's are removed (in a bucket with object lock, its versions stay until their
// lock ends). Each step runs again after a kill: the child's manifest still names the parent until
// the merged one is put, and the child's file still names the parent's as its backing file until
// the merged file is.
export async function foldOnHub(place: HubPlace, vm: string, key: number, journal: MergePair): Promise<void> {
  const relative = (id: string, ending: string) => path.posix.join(vm, `disk-${key}`, `${id}${ending}`);
  const read = async (id: string, ending: string) => {
    const text = await place.target.read(relative(id, ending));
    return text === undefined
      ? undefined
      : { text, manifest: parseManifest(text, place.target.absolute(relative(id, ending))) };
  };
  const parent = await read(journal.parent, '.json');
  if (parent !== undefined) {
    const child = await read(journal.child, '.json');
    if (child === undefined)
      throw new SendenseError(
        `${place.target.description}: the manifest ${relative(journal.child, '.json')} is missing: not merged`,
      );
    let pending = (await read(journal.child, '.json.merge'))?.text;
    if (child.manifest.parentId === journal.parent) {
      const work = path.join(place.scratch, vm, `disk-${key}`);
      await place.scratchDirs.record(work);
      await mkdir(work, { recursive: true, mode: 0o700 });
      try {
        const [parentFile, childFile] = [
          path.join(work, `${journal.parent}.qcow2`),
          path.join(work, `${journal.child}.qcow2`),
        ];
        await place.download(relative(journal.child, '.qcow2'), childFile);
        // Not yet the merged file (which names the parent's backing file, or none).
        if (readBacking(childFile)?.name === `${journal.parent}.qcow2`) {
          await place.download(relative(journal.parent, '.qcow2'), parentFile);
          // The parent's own backing file is not brought down: the parent is opened on its own
          // for the merge (only the child's clusters are written into it), then named again.
          const backing = readBacking(parentFile);
          if (backing !== undefined)
            await here(`cannot open ${journal.parent} on its own`, rebaseUnsafeArgv(parentFile, undefined));
          if (pending === undefined) {
            const merged = await mergedManifestOf(hereSh, parent.manifest, child.manifest, parentFile, childFile);
            pending = `${JSON.stringify(merged)}\n`;
            await placeFile(place, relative(journal.child, '.json.merge'), textBytes(pending));
          }
          await here(
            `cannot merge ${journal.parent} into ${journal.child} (disk ${key})`,
            commitIntoBackingArgv(childFile),
          );
          if (backing !== undefined) {
            await here(`cannot name ${journal.parent}'s backing file again`, rebaseUnsafeArgv(parentFile, backing));
          }
          await placeFile(
            place,
            relative(journal.child, '.qcow2'),
            fileBytes(parentFile, (await stat(parentFile)).size),
          );
          crashPoint('copy.merge-file');
        }
      } finally {
        await rm(work, { recursive: true, force: true });
        await place.scratchDirs.forget(work);
        // Its parents too, once empty (another VM's merge may be under way in them).
        for (const dir of [path.dirname(work), place.scratch]) await rmdir(dir).catch(() => {});
      }
      if (pending === undefined)
        throw new SendenseError(
          `${place.target.description}: ${relative(journal.child, '.qcow2')} is merged but its merged manifest is missing: not merged`,
        );
      await placeFile(place, relative(journal.child, '.json'), textBytes(pending));
    }
    await place.target.remove([relative(journal.child, '.json.merge')]);
    await place.target.remove([relative(journal.parent, '.json')]);
  }
  await place.target.remove([relative(journal.parent, '.qcow2')]);
}

// A command on the hub, its last line of stderr in the error.
async function here(what: string, argv: readonly string[]): Promise<string> {
  const result = await execLocal(argv);
  if (result.exitCode !== 0) {
    const last = result.stderr.trim().split('\n').filter(Boolean).at(-1) ?? `exit status ${result.exitCode}`;
    throw new SendenseError(`${what}: ${last}`);
  }
  return result.stdout;
}

const hereSh: Sh = (what, script, args) => here(what, ['sh', '-c', script, 'sh', ...args]);
