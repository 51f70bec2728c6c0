// open-copy: the copy's host reached (host key checked), or its bucket, and its path or prefix
// judged before anything is written there: missing or empty becomes a new copy (its marker first:
// what it is a copy of, with the repository's settings); a copy of this repository is used;
// anything else is refused in one line. An encrypted repository's keyring (wrapped secrets only) follows the hub's.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { copySource, judgeTarget } from '../../copy/copy-origin.js';
import { checkMergeTools, type CopyPlace } from '../../copy/copy-retention.js';
import { LOCAL_NODE_ID } from '../../node/node.js';
import { textBytes } from '../../copy/outgoing-bytes.js';
import { partialFiles, type CopyPartialFacts } from '../../copy/partial-files.js';
import { placeFile, type PlaceContext } from '../../copy/place-file.js';
import { sshCopyTarget } from '../../copy/ssh-copy-target.js';
import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { connectSshNode } from '../../node/ssh.js';
import { KEYRING_FILE, keyringPath } from '../../repository/keyring.js';
import { parseRepositoryMarker, readRepositoryMarker, REPOSITORY_MARKER, repositoryMarkerText } from '../../repository/marker.js';
import type { CopyPlan } from '../../plan/types.js';
import type { S3CopyTarget } from '../../copy/s3/s3-copy-target.js';
import type { Store } from '../../store/index.js';
import type { CopyRun, CopyState } from './copy-run.js';

export const openCopy: Step<CopyRun> = {
  name: 'open-copy',
  title: (run) => `check ${run.description}: a new copy, or a copy of ${run.plan.repository.path}`,
  async run(run) {
    const { plan } = run;
    const source = copySource(await readRepositoryMarker(plan.repository.path), plan.repository.path, run.store.hub);
    const { origin, settings } = source;
    run.state = await reachCopy(plan.copy.to, (message) => run.reporter.emit({ type: 'info', step: 'send-points', message }));
    const { target } = run.state;
    const there = await target.inspect();
    const copyMarker = there.state === 'directory' && there.marker !== undefined ? parseRepositoryMarker(there.marker, target.absolute(REPOSITORY_MARKER)) : undefined;
    const verdict = judgeTarget(there, copyMarker, source);
    if (verdict.kind === 'refused') throw new SendenseError(`copy target ${target.description} refused: ${verdict.why}; nothing was written`, { step: 'open-copy' });
    const place = placeContext(run);
    const merging = mergePlace(run);
    if (plan.copy.retention !== undefined && merging !== undefined && 'node' in merging) await checkMergeTools(merging);
    if (verdict.kind === 'new') {
      await placeFile(place, REPOSITORY_MARKER, textBytes(repositoryMarkerText(settings, origin)));
    }
    const keyring = settings.encryption === 'luks' ? await syncKeyring(run, place) : '';
    const made = verdict.kind === 'new' ? 'made now' : `made ${copyMarker?.created ?? 'before'}`;
    return `a copy of ${origin.path} (${made}; encryption ${settings.encryption}, compression ${settings.compression})${keyring}`;
  },
  would: (run) => `check ${run.description}: made a new copy when missing or empty, used when it is a copy of ${run.plan.repository.path}, refused otherwise (the copy is not contacted in a dry run)`,
};

export function placeContext(run: CopyRun): PlaceContext {
  const { target } = run.state;
  const partials = partialFiles(run.store, run.runId, target, partialFacts(run.plan.name, run.plan.copy.to));
  return { target, partials, signal: run.signal };
}

// Where the copy's own merges run: on an ssh copy's host; for a bucket, on the hub, in a directory
// of the repository (it has room for the files merged).
export function mergePlace(run: CopyRun): CopyPlace | undefined {
  const { node, root, bucket } = run.state;
  if (node !== undefined && root !== undefined) return { ...placeContext(run), node, root };
  if (bucket === undefined) return undefined;
  return hubPlace(placeContext(run), bucket, path.join(run.plan.repository.path, COPY_WORK_DIR), run.store, run.runId);
}

/** Where a bucket's merges are worked out, in the repository. */
export const COPY_WORK_DIR = '.sendense-copy-work';

export function hubPlace(place: PlaceContext, bucket: S3CopyTarget, scratch: string, store: Store, runId: string): CopyPlace {
  return {
    ...place,
    scratch,
    download: (relative, file) => bucket.download(relative, file, place.signal),
    scratchDirs: {
      record: (dir) => store.recordNodeResource({ runId, node: LOCAL_NODE_ID, kind: 'scratch-dir', name: dir, facts: { nodeSpec: null } }),
      forget: (dir) => store.forgetNodeResource(LOCAL_NODE_ID, 'scratch-dir', dir),
    },
  };
}

// What doctor needs to reach the copy again: the host as the plan gives it, or the bucket (never its keys).
export function partialFacts(plan: string, to: CopyPlan['copy']['to']): CopyPartialFacts {
  return to.type === 's3' ? { plan, s3: to } : { plan, nodeSpec: to.node };
}

// The copy's host over SSH (its host key checked), or the bucket with the plan's credentials.
async function reachCopy(to: CopyPlan['copy']['to'], say: (message: string) => void): Promise<CopyState> {
  if (to.type === 's3') {
    // The S3 SDK (a megabyte of code) is loaded only for a copy to a bucket.
    const [{ s3Client, s3Keys }, { s3CopyTarget }] = await Promise.all([import('../../copy/s3/s3-client.js'), import('../../copy/s3/s3-copy-target.js')]);
    const client = s3Client(to, await s3Keys(to.credentials));
    const bucket = s3CopyTarget(client, to, say);
    return { target: bucket, bucket, close: () => client.destroy() };
  }
  const node = await connectSshNode(to.node);
  return { node, root: to.path, target: sshCopyTarget(node, to.node, to.path) };
}

// The copy opens with the keys that open the hub's repository: its keyring is the hub's, rewritten when a key changed.
async function syncKeyring(run: CopyRun, place: PlaceContext): Promise<string> {
  const hub = await readFile(keyringPath(run.plan.repository.path), 'utf8').catch(() => undefined);
  if (hub === undefined) throw new SendenseError(`repository ${run.plan.repository.path} is encrypted but has no ${KEYRING_FILE}: the copy could never be opened`, { step: 'open-copy' });
  if ((await run.state.target.read(KEYRING_FILE)) === hub) return ', keyring up to date';
  await placeFile(place, KEYRING_FILE, textBytes(hub));
  return ', keyring sent';
}
