// open-copy: the copy's target reached (a host key checked, a bucket's keys read), and its path or prefix
// judged before anything is written there: missing or empty becomes a new copy (its marker first:
// what it is a copy of, with the repository's settings); a copy of this repository is used;
// anything else is refused in one line. An encrypted repository's keyring (wrapped secrets only) follows the hub's.

import { readFile } from 'node:fs/promises';
import { copySource, judgeTarget } from '../../copy/copy-origin.js';
import { copyPlace, copyWorkDir } from '../../copy/copy-place.js';
import { checkMergeTools, type CopyPlace } from '../../copy/copy-retention.js';
import { textBytes } from '../../copy/outgoing-bytes.js';
import { partialFiles } from '../../copy/partial-files.js';
import { placeFile, type PlaceContext } from '../../copy/place-file.js';
import { openCopyTarget } from '../../copy/targets/index.js';
import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { KEYRING_FILE, keyringPath } from '../../repository/keyring.js';
import {
  parseRepositoryMarker,
  readRepositoryMarker,
  REPOSITORY_MARKER,
  repositoryMarkerText,
} from '../../repository/marker.js';
import type { CopyRun } from './copy-run.js';

export const openCopy: Step<CopyRun> = {
  name: 'open-copy',
  title: (run) => `check ${run.description}: a new copy, or a copy of ${run.plan.repository.path}`,
  async run(run) {
    const { plan } = run;
    const source = copySource(await readRepositoryMarker(plan.repository.path), plan.repository.path, run.store.hub);
    const { origin, settings } = source;
    run.state = await openCopyTarget(plan.copy.to, (message) =>
      run.reporter.emit({ type: 'info', step: 'send-points', message }),
    );
    const { target } = run.state;
    const there = await target.inspect();
    const copyMarker =
      there.state === 'directory' && there.marker !== undefined
        ? parseRepositoryMarker(there.marker, target.absolute(REPOSITORY_MARKER))
        : undefined;
    const verdict = judgeTarget(there, copyMarker, source);
    if (verdict.kind === 'refused')
      throw new SendenseError(`copy target ${target.description} refused: ${verdict.why}; nothing was written`, {
        step: 'open-copy',
      });
    const place = placeContext(run);
    const host = target.capability('host');
    if (plan.copy.retention !== undefined && host !== undefined) await checkMergeTools({ ...place, ...host });
    if (verdict.kind === 'new') {
      await placeFile(place, REPOSITORY_MARKER, textBytes(repositoryMarkerText(settings, origin)));
    }
    const keyring = settings.encryption === 'luks' ? await syncKeyring(run, place) : '';
    const made = verdict.kind === 'new' ? 'made now' : `made ${copyMarker?.created ?? 'before'}`;
    return `a copy of ${origin.path} (${made}; encryption ${settings.encryption}, compression ${settings.compression})${keyring}`;
  },
  would: (run) =>
    `check ${run.description}: made a new copy when missing or empty, used when it is a copy of ${run.plan.repository.path}, refused otherwise (the copy is not contacted in a dry run)`,
};

export function placeContext(run: CopyRun): PlaceContext {
  const { target } = run.state;
  return { target, partials: partialFiles(run.store, run.runId, target, run.plan.name), signal: run.signal };
}

// Where the copy's own merges run: on its host, or worked out on the hub in a directory of the
// repository (it has room for the files merged).
export function mergePlace(run: CopyRun): CopyPlace | undefined {
  return copyPlace(placeContext(run), copyWorkDir(run.plan.repository.path), run.store, run.runId);
}

// The copy opens with the keys that open the hub's repository: its keyring is the hub's, rewritten when a key changed.
async function syncKeyring(run: CopyRun, place: PlaceContext): Promise<string> {
  const hub = await readFile(keyringPath(run.plan.repository.path), 'utf8').catch(() => undefined);
  if (hub === undefined)
    throw new SendenseError(
      `repository ${run.plan.repository.path} is encrypted but has no ${KEYRING_FILE}: the copy could never be opened`,
      { step: 'open-copy' },
    );
  if ((await run.state.target.read(KEYRING_FILE)) === hub) return ', keyring up to date';
  await placeFile(place, KEYRING_FILE, textBytes(hub));
  return ', keyring sent';
}
