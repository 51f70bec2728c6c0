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

import path from 'node:path';
import { SendenseError } from '../errors.js';
import { MERGE_TOOLS, commitIntoBackingArgv, shellCommand } from '../qemu/command-lines.js';
import type { KeepRules } from '../retention/keep-rules.js';
import { crashPoint } from '../crash-points.js';
import { choosePrune, describeDecision, type PrunablePoint } from '../retention/prune-choice.js';
import { isBackupIdText, parseManifest } from '../repository/manifest-file.js';
import type { DiskManifest } from '../repository/manifest.js';
import type { Store } from '../store/index.js';
import type { CopyHost, CopyTargetFacts } from './copy-target.js';
import { foldOnHub, type HubPlace } from './hub-fold.js';
import { mergedManifestOf } from './merge-reads.js';
import { textBytes } from './outgoing-bytes.js';
import { placeFile, type PlaceContext } from './place-file.js';
import { takingOrder } from '../retention/taking-order.js';

export type { HubPlace } from './hub-fold.js';

export const COPY_MERGE_RESOURCE = 'copy-merge';
export const MERGE_JOURNAL = '.sendense-merge';
export const PRUNED_LIST = '.sendense-pruned';

/** What doctor needs to reach the copy again and finish a merge there: the target's facts, and where the hub works it out. */
export interface CopyMergeFacts extends CopyTargetFacts {
  readonly plan: string;
  readonly vm: string;
  /** A merge worked out on the hub: the directory there. */
  readonly scratch?: string;
}

/** A copy on a host (capability `host`): its merges run there, by its qemu-img. */
export interface HostPlace extends PlaceContext, CopyHost {}

/** Where a copy's merges run: on its host, or on the hub (./copy-place.ts). */
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

// <vm>/.sendense-merge: the merge under way on the copy.
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
  `if [ -e "$1" ]; then ${shellCommand(commitIntoBackingArgv('$2'))} && mv -fT -- "$1" "$2" && sync -- "$(dirname -- "$2")" || exit; fi`,
  'if [ -e "$3" ]; then mv -fT -- "$3" "$4" && sync -- "$(dirname -- "$4")" || exit; fi',
  'rm -f -- "$5"',
].join('\n');
const HAS_QEMU = MERGE_TOOLS.map((tool) => `command -v ${tool} >/dev/null`).join(' && ');

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

/** What the hub knows of a point the copy may hold: its disks, and whether it is protected there. */
export interface HubPoint {
  readonly disks: number;
  readonly protected: boolean;
}

// The points on the copy, oldest first in the order taken (src/retention/taking-order.ts). `hub`:
// each point the hub still knows; a point with fewer manifests there than disks on the hub is still
// being sent (a killed run's): it is not a point yet. A point protected on the hub is protected on
// the copy too (docs/copies.md#retention).
export async function readCopyPoints(
  place: CopyPlace,
  vm: string,
  hub: ReadonlyMap<string, HubPoint>,
): Promise<CopyPoint[]> {
  const byId = new Map<string, DiskManifest[]>();
  for (const [relative, text] of await manifestTexts(place, vm)) {
    const manifest = parseManifest(text, place.target.absolute(path.posix.join(vm, relative)));
    byId.set(manifest.backupId, [...(byId.get(manifest.backupId) ?? []), manifest]);
  }
  const points = [...byId.values()].map((manifests): CopyPoint => {
    const first = manifests[0]!;
    const known = hub.get(first.backupId);
    const complete = manifests.length >= (known?.disks ?? 0);
    return {
      id: first.backupId,
      protected: known?.protected === true,
      type: first.type,
      parentId: first.parentId,
      status: complete ? 'complete' : 'running',
      startedAt: first.startedAt,
      disks: manifests
        .sort((a, b) => a.diskKey - b.diskKey)
        .map((manifest) => ({ diskKey: manifest.diskKey, virtualSize: manifest.virtualSize, manifest })),
    };
  });
  return takingOrder(points);
}

// Every manifest of the VM's folder on the copy, by its path in that folder: on a host in one
// exec, in a bucket one GET each.
async function manifestTexts(place: CopyPlace, vm: string): Promise<[string, string][]> {
  if (onHost(place)) {
    const parts = (
      await sh(place, `cannot read the manifests of ${vm}`, MANIFESTS, [path.posix.join(place.root, vm)])
    ).split('\0');
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
export async function prunedOnCopy(
  place: Pick<CopyPlace, 'target'>,
  vm: string,
): Promise<ReadonlyMap<string, string | undefined>> {
  const text = await place.target.read(path.posix.join(vm, PRUNED_LIST));
  return new Map(
    (text ?? '')
      .split('\n')
      .filter(Boolean)
      .map((line, index) => {
        const [id, into, ...rest] = line.split(' ');
        // Whoever can write the copy can write this list (docs/threat-model.md): ids only.
        if (!isBackupIdText(id) || (into !== undefined && !isBackupIdText(into)) || rest.length > 0)
          throw new SendenseError(
            `${place.target.description}: ${path.posix.join(vm, PRUNED_LIST)} line ${index + 1} is not "<id>" or "<id> <into>": the copy of ${vm} is not touched (mend or remove that line)`,
          );
        return [id, into] as const;
      }),
  );
}

// The journal as a run of ours writes it; anything else (whoever can write the copy can write it,
// docs/threat-model.md) is refused before a path is built from it.
function checkedJournal(text: string, where: () => string): Journal {
  let parsed: Partial<Record<keyof Journal, unknown>> | null = null;
  try {
    parsed = JSON.parse(text) as Partial<Record<keyof Journal, unknown>> | null;
  } catch {
    // Said below.
  }
  const disks = parsed?.disks;
  const problem =
    parsed === null || typeof parsed !== 'object'
      ? 'it is not JSON of a merge'
      : !isBackupIdText(parsed.parent) || !isBackupIdText(parsed.child) || parsed.parent === parsed.child
        ? 'its parent and child are not two backup ids'
        : !Array.isArray(disks) ||
            disks.length === 0 ||
            !disks.every((key) => Number.isSafeInteger(key) && (key as number) >= 0) ||
            new Set(disks).size !== disks.length
          ? 'its disks are not a list of disk keys'
          : undefined;
  if (problem !== undefined)
    throw new SendenseError(
      `${where()} is not a merge a run of ours wrote (${problem}): nothing was merged or removed; if no sendense-run left it, remove it`,
    );
  return parsed as unknown as Journal;
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
  /** The plan's name, recorded with a merge for doctor. */
  readonly plan: string;
  readonly say: (line: string) => void;
  readonly signal?: AbortSignal;
}

// The copy's rules on one VM's points there: merges and removals, oldest first.
export async function pruneCopy(
  place: CopyPlace,
  context: RetentionContext,
  vm: string,
  rules: KeepRules,
  hub: ReadonlyMap<string, HubPoint>,
  timeZone?: string,
): Promise<CopyPruned> {
  await finishCopyMerge(place, vm, context);
  const decisions = choosePrune(await readCopyPoints(place, vm, hub), rules, timeZone);
  let merged = 0;
  let removed = 0;
  for (const decision of decisions) {
    if (decision.action === 'keep') continue;
    context.signal?.throwIfAborted();
    // Read again: an earlier merge may have changed this point's parent or type.
    const points = await readCopyPoints(place, vm, hub);
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

async function mergeOnCopy(
  place: CopyPlace,
  context: RetentionContext,
  vm: string,
  parent: CopyPoint,
  child: CopyPoint,
): Promise<void> {
  const journal: Journal = { parent: parent.id, child: child.id, disks: child.disks.map((disk) => disk.diskKey) };
  const name = place.target.absolute(path.posix.join(vm, MERGE_JOURNAL));
  const facts: CopyMergeFacts = {
    plan: context.plan,
    ...place.target.facts,
    vm,
    ...(!onHost(place) && { scratch: place.scratch }),
  };
  await context.store.recordNodeResource({
    runId: context.runId,
    node: place.target.node,
    kind: COPY_MERGE_RESOURCE,
    name,
    facts: { ...facts },
  });
  await placeFile(place, path.posix.join(vm, MERGE_JOURNAL), textBytes(`${JSON.stringify(journal)}\n`));
  crashPoint('copy.merge-planned');
  await finishCopyMerge(place, vm, context);
}

// Finishes the merge written down in <vm>/.sendense-merge, if there is one (a run's own, or a
// killed run's: the caller holds the VM's lock or is doctor).
export async function finishCopyMerge(
  place: CopyPlace,
  vm: string,
  context: Pick<RetentionContext, 'store'>,
): Promise<string | undefined> {
  const recorded = place.target.absolute(path.posix.join(vm, MERGE_JOURNAL));
  const text = await place.target.read(path.posix.join(vm, MERGE_JOURNAL));
  if (text === undefined) {
    await context.store.forgetNodeResource(place.target.node, COPY_MERGE_RESOURCE, recorded);
    return undefined;
  }
  const journal = checkedJournal(text, () => `${place.target.description}: ${path.posix.join(vm, MERGE_JOURNAL)}`);
  for (const [index, key] of journal.disks.entries()) {
    if (onHost(place)) await foldOnHost(place, vm, key, journal);
    else await foldOnHub(place, vm, key, journal);
    if (index === 0) crashPoint('copy.merge-disk');
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
      if (text === undefined)
        throw new SendenseError(`${place.target.description}: the manifest ${relative} is missing: not merged`);
      return parseManifest(text, path.posix.join(place.root, relative));
    };
    const merged = await mergedManifestOf(
      (what, script, args) => sh(place, what, script, args),
      await read(journal.parent),
      await read(journal.child),
      parentFile,
      childFile,
    );
    await placeFile(place, path.posix.relative(place.root, pending), textBytes(`${JSON.stringify(merged)}\n`));
  }
  await sh(place, `cannot merge ${journal.parent} into ${journal.child} (disk ${key})`, FOLD, [
    parentFile,
    childFile,
    pending,
    file(journal.child, '.json'),
    file(journal.parent, '.json'),
  ]);
}

// The newest point of an older chain on the copy, nothing standing on it: its manifests first (it
// stops being a point), then its files.
async function removeOnCopy(place: CopyPlace, vm: string, point: CopyPoint): Promise<void> {
  const files = (ending: string) =>
    point.disks.map((disk) => path.posix.join(vm, `disk-${disk.diskKey}`, `${point.id}${ending}`));
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
