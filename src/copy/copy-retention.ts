// A copy's own retention (docs/copies.md#retention): the keep-* rules of copy.retention judged on
// the points the copy holds (its manifests), whatever the hub keeps. An unkept point is merged into
// the next point of its chain there, by the copy's host's own qemu-img, as the hub merges its own
// (docs/how-it-works.md#retention): the child's clusters are written into the parent's file, which
// is then renamed over the child's, so the child reads the same at every instant. The merged
// manifest is worked out here and put there first. A copy in a bucket has no host to run qemu-img
// on: its merges are worked out on the hub from the two files brought down, and the merged file is
// put back as a new object (docs/copies.md#retention-in-a-bucket).
//
// Crash safety: a merge is written down on the copy before any file changes (<vm>/.sendense-merge,
// and a `copy-merge` node resource here for doctor), and every step can run again, so the next
// run or doctor finishes it. Points the copy merged or removed are listed in <vm>/.sendense-pruned:
// the hub may still hold them, and they are never sent again.

import { mkdir, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError } from '../errors.js';
import { execLocal } from '../node/local.js';
import type { NodeHost } from '../node/node.js';
import { readBacking } from '../qemu/qcow2-header.js';
import type { KeepRules } from '../retention/keep-rules.js';
import { mergedManifest, parentRangesToRead, type Interval } from '../retention/merge-manifest.js';
import { ownExtentsOfMap } from '../retention/merge-files.js';
import { crashPoint } from '../retention/crash-point.js';
import { choosePrune, describeDecision, type PrunablePoint } from '../retention/prune-choice.js';
import { parseManifest } from '../repository/manifest-file.js';
import type { DiskManifest } from '../repository/manifest.js';
import type { Store } from '../store/index.js';
import type { NodeSpec, S3CopyTo } from '../plan/types.js';
import { fileBytes, textBytes } from './outgoing-bytes.js';
import { placeFile, type PlaceContext } from './place-file.js';

export const COPY_MERGE_RESOURCE = 'copy-merge';
export const MERGE_JOURNAL = '.sendense-merge';
export const PRUNED_LIST = '.sendense-pruned';

/** What doctor needs to reach the copy again and finish a merge there: the host and path, or the bucket. */
export interface CopyMergeFacts {
  readonly plan: string;
  readonly vm: string;
  readonly nodeSpec?: NodeSpec;
  readonly root?: string;
  readonly s3?: S3CopyTo;
  /** s3: where the hub works its merges out. */
  readonly scratch?: string;
}

/** An ssh copy: the copy's host, where its merges run, and the copy's path there. */
export interface HostPlace extends PlaceContext {
  readonly node: NodeHost;
  readonly root: string;
}

/** A copy in a bucket: its merges are worked out on the hub, in `scratch`, from files brought down. */
export interface HubPlace extends PlaceContext {
  readonly scratch: string;
  /** A directory in `scratch` recorded before it is made (doctor removes one a killed run left), forgotten once removed. */
  readonly scratchDirs: { record(dir: string): Promise<void>; forget(dir: string): Promise<void> };
  /** The copy's file, its bytes checked as they come, into a file here. */
  download(relative: string, file: string): Promise<void>;
}

export type CopyPlace = HostPlace | HubPlace;

function onHost(place: CopyPlace): place is HostPlace {
  return 'node' in place;
}

export interface CopyPointDisk {
  readonly diskKey: number;
  readonly virtualSize: number;
  readonly manifest: DiskManifest;
}

export interface CopyPoint extends PrunablePoint {
  readonly disks: readonly CopyPointDisk[];
}

interface Journal {
  readonly parent: string;
  readonly child: string;
  readonly disks: readonly number[];
}

export interface CopyPruned {
  readonly kept: number;
  readonly merged: number;
  readonly removed: number;
}

// Every manifest of the VM's folder on the copy, each as "\0<relative>\0<text>".
const MANIFESTS = `cd -- "$1" 2>/dev/null || exit 0; for f in disk-*/*.json; do [ -f "$f" ] || continue; printf '\\0%s\\0' "$f"; cat -- "$f"; done`;
const EXISTING = 'for f in "$@"; do if [ -e "$f" ]; then printf "%s\\n" "$f"; fi; done';
// $1 parent's file, $2 child's file, $3 the merged manifest, $4 the child's manifest, $5 the parent's.
const FOLD = [
  'if [ -e "$1" ]; then qemu-img commit -q -d -f qcow2 -- "$2" && mv -fT -- "$1" "$2" && sync -- "$(dirname -- "$2")" || exit; fi',
  'if [ -e "$3" ]; then mv -fT -- "$3" "$4" && sync -- "$(dirname -- "$4")" || exit; fi',
  'rm -f -- "$5"',
].join('\n');
const MAP = 'qemu-img map --output=json -- "$1"';
// $1 the file, then `-c "read -v OFFSET LENGTH"` pairs.
const READ_HEX = 'f=$1; shift; exec qemu-io -r -f qcow2 "$@" -- "$f"';
const HAS_QEMU = 'command -v qemu-img >/dev/null && command -v qemu-io >/dev/null';

async function sh(place: HostPlace, what: string, script: string, args: readonly string[]): Promise<string> {
  const result = await place.node.exec(['sh', '-c', script, 'sh', ...args]);
  if (result.exitCode !== 0) {
    const last = result.stderr.trim().split('\n').filter(Boolean).at(-1) ?? `exit status ${result.exitCode}`;
    throw new SendenseError(`${place.target.description}: ${what}: ${last}`);
  }
  return result.stdout;
}

// Merges need qemu-img and qemu-io on the copy's host: said before anything is sent.
export async function checkMergeTools(place: HostPlace): Promise<void> {
  const result = await place.node.exec(['sh', '-c', HAS_QEMU]);
  if (result.exitCode !== 0) {
    throw new SendenseError(
      `${place.target.description}: copy.retention merges points on the copy's host, which needs qemu-img and qemu-io (qemu-utils) there; install it, or leave copy.retention out`,
      {
        step: 'open-copy',
      },
    );
  }
}

// The points on the copy, oldest first. `hubDisks`: the disks of each point the hub still knows;
// a point with fewer manifests there is still being sent (a killed run's): it is not a point yet.
export async function readCopyPoints(place: CopyPlace, vm: string, hubDisks: ReadonlyMap<string, number>): Promise<CopyPoint[]> {
  const byId = new Map<string, DiskManifest[]>();
  for (const [relative, text] of await manifestTexts(place, vm)) {
    const manifest = parseManifest(text, place.target.absolute(path.posix.join(vm, relative)));
    byId.set(manifest.backupId, [...(byId.get(manifest.backupId) ?? []), manifest]);
  }
  const points = [...byId.values()].map((manifests): CopyPoint => {
    const first = manifests[0]!;
    const complete = manifests.length >= (hubDisks.get(first.backupId) ?? 0);
    return {
      id: first.backupId,
      type: first.type,
      parentId: first.parentId,
      status: complete ? 'complete' : 'running',
      startedAt: first.startedAt,
      disks: manifests.sort((a, b) => a.diskKey - b.diskKey).map((manifest) => ({ diskKey: manifest.diskKey, virtualSize: manifest.virtualSize, manifest })),
    };
  });
  return points.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
}

// Every manifest of the VM's folder on the copy, by its path in that folder: on a host in one
// exec, in a bucket one GET each.
async function manifestTexts(place: CopyPlace, vm: string): Promise<[string, string][]> {
  if (onHost(place)) {
    const parts = (await sh(place, `cannot read the manifests of ${vm}`, MANIFESTS, [path.posix.join(place.root, vm)])).split('\0');
    const texts: [string, string][] = [];
    for (let at = 1; at + 1 < parts.length; at += 2) texts.push([parts[at]!, parts[at + 1]!]);
    return texts;
  }
  const names = [...(await place.target.list(vm)).keys()].filter((name) => /^disk-\d+\/[^/]+\.json$/.test(name));
  const texts: [string, string][] = [];
  for (const name of names) {
    const text = await place.target.read(path.posix.join(vm, name));
    if (text !== undefined) texts.push([name, text]);
  }
  return texts;
}

// The ids the copy merged (into which point) or removed itself: the hub may still hold them; they
// are not sent again. One line each: "<id> <into>" or "<id>".
export async function prunedOnCopy(place: Pick<CopyPlace, 'target'>, vm: string): Promise<ReadonlyMap<string, string | undefined>> {
  const text = await place.target.read(path.posix.join(vm, PRUNED_LIST));
  return new Map(
    (text ?? '')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [id, into] = line.split(' ');
        return [id!, into] as const;
      }),
  );
}

// The point on the copy that now holds `id`'s content: where its merges led, if anywhere.
export function standInOf(pruned: ReadonlyMap<string, string | undefined>, id: string): string | undefined {
  let at: string | undefined = id;
  for (let hops = 0; at !== undefined && pruned.has(at) && hops <= pruned.size; hops++) at = pruned.get(at);
  return at === id || (at !== undefined && pruned.has(at)) ? undefined : at;
}

export interface RetentionContext {
  readonly store: Store;
  readonly runId: string;
  readonly facts: Omit<CopyMergeFacts, 'vm' | 'root'>;
  readonly say: (line: string) => void;
  readonly signal?: AbortSignal;
}

// The copy's rules on one VM's points there: merges and removals, oldest first.
export async function pruneCopy(place: CopyPlace, context: RetentionContext, vm: string, rules: KeepRules, hubDisks: ReadonlyMap<string, number>, timeZone?: string): Promise<CopyPruned> {
  await finishCopyMerge(place, vm, context);
  const decisions = choosePrune(await readCopyPoints(place, vm, hubDisks), rules, timeZone);
  let merged = 0;
  let removed = 0;
  for (const decision of decisions) {
    if (decision.action === 'keep') continue;
    context.signal?.throwIfAborted();
    // Read again: an earlier merge may have changed this point's parent or type.
    const points = await readCopyPoints(place, vm, hubDisks);
    const point = points.find((candidate) => candidate.id === decision.backup.id)!;
    if (decision.action === 'merge') {
      await mergeOnCopy(
        place,
        context,
        vm,
        point,
        points.find((candidate) => candidate.id === decision.into)!,
      );
      merged++;
    } else {
      await removeOnCopy(place, vm, point);
      removed++;
    }
    context.say(`${vm}: ${describeDecision(decision)}: done`);
  }
  return { kept: decisions.filter((decision) => decision.action === 'keep').length, merged, removed };
}

async function mergeOnCopy(place: CopyPlace, context: RetentionContext, vm: string, parent: CopyPoint, child: CopyPoint): Promise<void> {
  const journal: Journal = { parent: parent.id, child: child.id, disks: child.disks.map((disk) => disk.diskKey) };
  const name = place.target.absolute(path.posix.join(vm, MERGE_JOURNAL));
  const facts: CopyMergeFacts = { ...context.facts, vm, ...(onHost(place) && { root: place.root }) };
  await context.store.recordNodeResource({ runId: context.runId, node: place.target.node, kind: COPY_MERGE_RESOURCE, name, facts: { ...facts } });
  await placeFile(place, path.posix.join(vm, MERGE_JOURNAL), textBytes(`${JSON.stringify(journal)}\n`));
  crashPoint('copy-merge-planned');
  await finishCopyMerge(place, vm, context);
}

// Finishes the merge written down in <vm>/.sendense-merge, if there is one (a run's own, or a
// killed run's: the caller holds the VM's lock or is doctor).
export async function finishCopyMerge(place: CopyPlace, vm: string, context: Pick<RetentionContext, 'store'>): Promise<string | undefined> {
  const recorded = place.target.absolute(path.posix.join(vm, MERGE_JOURNAL));
  const text = await place.target.read(path.posix.join(vm, MERGE_JOURNAL));
  if (text === undefined) {
    await context.store.forgetNodeResource(place.target.node, COPY_MERGE_RESOURCE, recorded);
    return undefined;
  }
  const journal = JSON.parse(text) as Journal;
  for (const [index, key] of journal.disks.entries()) {
    if (onHost(place)) await foldOnHost(place, vm, key, journal);
    else await foldOnHub(place, vm, key, journal);
    if (index === 0) crashPoint('copy-merge-disk');
  }
  await place.target.remove([path.posix.join(vm, 'domain', `${journal.parent}.xml`)]);
  await addPruned(place, vm, [journal.parent, journal.child]);
  await place.target.remove([path.posix.join(vm, MERGE_JOURNAL)]);
  await context.store.forgetNodeResource(place.target.node, COPY_MERGE_RESOURCE, recorded);
  return `${journal.parent} merged into ${journal.child}`;
}

// One disk's merge on the copy's host: the merged manifest put there first, then the parent's file
// folded into the child's by qemu-img there and renamed over it (FOLD); each step runs again.
async function foldOnHost(place: HostPlace, vm: string, key: number, journal: Journal): Promise<void> {
  const file = (id: string, ending: string) => path.posix.join(place.root, vm, `disk-${key}`, `${id}${ending}`);
  const [parentFile, childFile] = [file(journal.parent, '.qcow2'), file(journal.child, '.qcow2')];
  const pending = file(journal.child, '.json.merge');
  const there = new Set((await sh(place, 'cannot look at the copy', EXISTING, [parentFile, pending])).split('\n'));
  if (there.has(parentFile) && !there.has(pending)) {
    const read = async (id: string) => {
      const relative = path.posix.join(vm, `disk-${key}`, `${id}.json`);
      const text = await place.target.read(relative);
      if (text === undefined) throw new SendenseError(`${place.target.description}: the manifest ${relative} is missing: not merged`);
      return parseManifest(text, path.posix.join(place.root, relative));
    };
    const merged = await mergedManifestOf((what, script, args) => sh(place, what, script, args), await read(journal.parent), await read(journal.child), parentFile, childFile);
    await placeFile(place, path.posix.relative(place.root, pending), textBytes(`${JSON.stringify(merged)}\n`));
  }
  await sh(place, `cannot merge ${journal.parent} into ${journal.child} (disk ${key})`, FOLD, [parentFile, childFile, pending, file(journal.child, '.json'), file(journal.parent, '.json')]);
}

// One disk's merge for a copy in a bucket, worked out on the hub. Objects are never changed: the
// merged file and manifest are put as new objects under the child's names, and the parent's are
// removed (in a bucket with object lock, its versions stay until their lock ends). Each step runs
// again after a kill: the child's manifest still names the parent until the merged one is put, and
// the child's file still names the parent's as its backing file until the merged file is.
async function foldOnHub(place: HubPlace, vm: string, key: number, journal: Journal): Promise<void> {
  const relative = (id: string, ending: string) => path.posix.join(vm, `disk-${key}`, `${id}${ending}`);
  const read = async (id: string, ending: string) => {
    const text = await place.target.read(relative(id, ending));
    return text === undefined ? undefined : { text, manifest: parseManifest(text, place.target.absolute(relative(id, ending))) };
  };
  const parent = await read(journal.parent, '.json');
  if (parent !== undefined) {
    const child = await read(journal.child, '.json');
    if (child === undefined) throw new SendenseError(`${place.target.description}: the manifest ${relative(journal.child, '.json')} is missing: not merged`);
    let pending = (await read(journal.child, '.json.merge'))?.text;
    if (child.manifest.parentId === journal.parent) {
      const work = path.join(place.scratch, vm, `disk-${key}`);
      await place.scratchDirs.record(work);
      await mkdir(work, { recursive: true, mode: 0o700 });
      try {
        const [parentFile, childFile] = [path.join(work, `${journal.parent}.qcow2`), path.join(work, `${journal.child}.qcow2`)];
        await place.download(relative(journal.child, '.qcow2'), childFile);
        // Not yet the merged file (which names the parent's backing file, or none).
        if (readBacking(childFile)?.name === `${journal.parent}.qcow2`) {
          await place.download(relative(journal.parent, '.qcow2'), parentFile);
          // The parent's own backing file is not brought down: the parent is opened on its own
          // for the merge (only the child's clusters are written into it), then named again.
          const backing = readBacking(parentFile);
          if (backing !== undefined) await here(`cannot open ${journal.parent} on its own`, ['qemu-img', 'rebase', '-q', '-u', '-f', 'qcow2', '-b', '', '--', parentFile]);
          if (pending === undefined) {
            const merged = await mergedManifestOf(hereSh, parent.manifest, child.manifest, parentFile, childFile);
            pending = `${JSON.stringify(merged)}\n`;
            await placeFile(place, relative(journal.child, '.json.merge'), textBytes(pending));
          }
          await here(`cannot merge ${journal.parent} into ${journal.child} (disk ${key})`, ['qemu-img', 'commit', '-q', '-d', '-f', 'qcow2', '--', childFile]);
          if (backing !== undefined) {
            await here(`cannot name ${journal.parent}'s backing file again`, ['qemu-img', 'rebase', '-q', '-u', '-f', 'qcow2', '-b', backing.name, '-F', backing.format ?? 'qcow2', '--', parentFile]);
          }
          await placeFile(place, relative(journal.child, '.qcow2'), fileBytes(parentFile, (await stat(parentFile)).size));
          crashPoint('copy-merge-file');
        }
      } finally {
        await rm(work, { recursive: true, force: true });
        await place.scratchDirs.forget(work);
        // Its parents too, once empty (another VM's merge may be under way in them).
        for (const dir of [path.dirname(work), place.scratch]) await rmdir(dir).catch(() => {});
      }
      if (pending === undefined) throw new SendenseError(`${place.target.description}: ${relative(journal.child, '.qcow2')} is merged but its merged manifest is missing: not merged`);
      await placeFile(place, relative(journal.child, '.json'), textBytes(pending));
    }
    await place.target.remove([relative(journal.child, '.json.merge')]);
    await place.target.remove([relative(journal.parent, '.json')]);
  }
  await place.target.remove([relative(journal.parent, '.qcow2')]);
}

type Sh = (what: string, script: string, args: readonly string[]) => Promise<string>;

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

// The child's manifest once the parent is in its file, as the hub works it out: the child's own
// clusters from qemu-img map where the files are, the parent's bytes its ranges cut by them read there.
async function mergedManifestOf(run: Sh, parent: DiskManifest, child: DiskManifest, parentFile: string, childFile: string): Promise<DiskManifest> {
  const own = `json:${JSON.stringify({ driver: 'qcow2', file: { driver: 'file', filename: childFile }, backing: null })}`;
  const extents = ownExtentsOfMap(await run(`cannot map ${childFile}`, MAP, [own]));
  const cut: Interval[] = [...extents.data, ...extents.zero].sort((a, b) => a[0] - b[0]);
  // Every range the merge reads, fetched beforehand in a few qemu-io runs (one per batch, not one
  // per range: each is a round trip to the copy's host).
  const fetched = new Map<number, Buffer>();
  for (const batch of readBatches(parentRangesToRead(parent, child, cut))) {
    const commands = batch.flatMap(([offset, length]) => ['-c', `read -v ${offset} ${length}`]);
    const dump = await run(`cannot read ${parentFile}`, READ_HEX, [parentFile, ...commands]);
    for (const [offset, bytes] of rangesOfHexDump(dump, batch)) fetched.set(offset, bytes);
  }
  return mergedManifest(parent, child, cut, async (offset, length) => {
    const bytes = fetched.get(offset);
    if (bytes === undefined || bytes.length !== length) throw new Error(`the merge asked for ${length} bytes at ${offset}, which were not read`);
    return bytes;
  });
}

// At most this many ranges and bytes a qemu-io run: its arguments stay short and its hex dump
// (about 4.3 bytes of text a byte) a few tens of MB.
const BATCH_RANGES = 256;
const BATCH_BYTES = 16 * 1024 * 1024;

export function readBatches(ranges: readonly Interval[]): Interval[][] {
  const batches: Interval[][] = [];
  let bytes = 0;
  for (const range of ranges) {
    const last = batches.at(-1);
    if (last === undefined || last.length >= BATCH_RANGES || (last.length > 0 && bytes + range[1] > BATCH_BYTES)) {
      batches.push([range]);
      bytes = range[1];
    } else {
      last.push(range);
      bytes += range[1];
    }
  }
  return batches;
}

// qemu-io's `read -v` output for some ranges (not overlapping): lines of
// "<offset in hex>:  xx xx … (up to 16)  <text>", each placed by its offset into its range.
export function rangesOfHexDump(dump: string, ranges: readonly Interval[]): Map<number, Buffer> {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const bytes = new Map(sorted.map(([offset, length]) => [offset, Buffer.alloc(length)] as const));
  const filled = new Map<number, number>(sorted.map(([offset]) => [offset, 0]));
  let index = 0;
  for (const line of dump.split('\n')) {
    const match = /^([0-9a-f]+): {2}((?:[0-9a-f]{2} ){1,16})/.exec(line);
    if (match === null) continue;
    let at = Number.parseInt(match[1]!, 16);
    if (index >= sorted.length || at < sorted[index]![0] || at >= sorted[index]![0] + sorted[index]![1]) index = sorted.findIndex(([start, length]) => at >= start && at < start + length);
    const range = sorted[index];
    if (range === undefined) throw new SendenseError(`qemu-io printed bytes at ${at}, outside the ranges asked for`);
    const buffer = bytes.get(range[0])!;
    for (const pair of match[2]!.trim().split(' ')) {
      if (at >= range[0] + range[1]) throw new SendenseError(`qemu-io printed bytes at ${at}, outside the ranges asked for`);
      buffer[at - range[0]] = Number.parseInt(pair, 16);
      at++;
      filled.set(range[0], filled.get(range[0])! + 1);
    }
  }
  for (const [offset, length] of sorted) {
    if (filled.get(offset) !== length) throw new SendenseError(`qemu-io read ${filled.get(offset)} bytes at ${offset} where ${length} were asked`);
  }
  return bytes;
}

// The newest point of an older chain on the copy, nothing standing on it: its manifests first (it
// stops being a point), then its files.
async function removeOnCopy(place: CopyPlace, vm: string, point: CopyPoint): Promise<void> {
  const files = (ending: string) => point.disks.map((disk) => path.posix.join(vm, `disk-${disk.diskKey}`, `${point.id}${ending}`));
  await addPruned(place, vm, [point.id]);
  await place.target.remove(files('.json'));
  await place.target.remove([...files('.qcow2'), path.posix.join(vm, 'domain', `${point.id}.xml`)]);
}

async function addPruned(place: CopyPlace, vm: string, [id, into]: readonly [string, string?]): Promise<void> {
  const before = await prunedOnCopy(place, vm);
  if (before.has(id)) return;
  const lines = [...before].map(([one, merged]) => (merged === undefined ? one : `${one} ${merged}`));
  lines.push(into === undefined ? id : `${id} ${into}`);
  await placeFile(place, path.posix.join(vm, PRUNED_LIST), textBytes(`${lines.join('\n')}\n`));
}
