// open-copy: the copy's host reached (host key checked) and its path judged before anything is
// written there: missing or empty becomes a new copy (its marker first: what it is a copy of,
// with the repository's settings); a copy of this repository is used; anything else is refused
// in one line. An encrypted repository's keyring (wrapped secrets only) follows the hub's.

import { readFile } from 'node:fs/promises';
import { copySource, judgeTarget } from '../../copy/copy-origin.js';
import { checkMergeTools } from '../../copy/copy-retention.js';
import { textBytes } from '../../copy/outgoing-bytes.js';
import { partialFiles } from '../../copy/partial-files.js';
import { placeFile, type PlaceContext } from '../../copy/place-file.js';
import { sshCopyTarget } from '../../copy/ssh-copy-target.js';
import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { connectSshNode } from '../../node/ssh.js';
import { KEYRING_FILE, keyringPath } from '../../repository/keyring.js';
import { parseRepositoryMarker, readRepositoryMarker, REPOSITORY_MARKER, repositoryMarkerText } from '../../repository/marker.js';
import type { CopyRun } from './copy-run.js';

export const openCopy: Step<CopyRun> = {
  name: 'open-copy',
  title: (run) => `check ${run.description}: a new copy, or a copy of ${run.plan.repository.path}`,
  async run(run) {
    const { plan } = run;
    const source = copySource(await readRepositoryMarker(plan.repository.path), plan.repository.path, run.store.hub);
    const { origin, settings } = source;
    const { node: spec, path: copyPath } = plan.copy.to;
    const node = await connectSshNode(spec);
    run.state = { node, target: sshCopyTarget(node, spec, copyPath) };
    const { target } = run.state;
    const root = await target.inspect();
    const copyMarker = root.state === 'directory' && root.marker !== undefined ? parseRepositoryMarker(root.marker, target.absolute(REPOSITORY_MARKER)) : undefined;
    const verdict = judgeTarget(root, copyMarker, source);
    if (verdict.kind === 'refused') throw new SendenseError(`copy target ${target.description} refused: ${verdict.why}; nothing was written`, { step: 'open-copy' });
    const place = placeContext(run);
    if (plan.copy.retention !== undefined) await checkMergeTools({ ...place, node, root: copyPath });
    if (verdict.kind === 'new') {
      await placeFile(place, REPOSITORY_MARKER, textBytes(repositoryMarkerText(settings, origin)));
    }
    const keyring = settings.encryption === 'luks' ? await syncKeyring(run, place) : '';
    const made = verdict.kind === 'new' ? 'made now' : `made ${copyMarker?.created ?? 'before'}`;
    return `a copy of ${origin.path} (${made}; encryption ${settings.encryption}, compression ${settings.compression})${keyring}`;
  },
  would: (run) =>
    `check ${run.description}: made a new copy when missing or empty, used when it is a copy of ${run.plan.repository.path}, refused otherwise (the copy's host is not contacted in a dry run)`,
};

export function placeContext(run: CopyRun): PlaceContext {
  const { target } = run.state;
  const partials = partialFiles(run.store, run.runId, target, { plan: run.plan.name, nodeSpec: run.plan.copy.to.node });
  return { target, partials, signal: run.signal };
}

// The copy opens with the keys that open the hub's repository: its keyring is the hub's, rewritten when a key changed.
async function syncKeyring(run: CopyRun, place: PlaceContext): Promise<string> {
  const hub = await readFile(keyringPath(run.plan.repository.path), 'utf8').catch(() => undefined);
  if (hub === undefined) throw new SendenseError(`repository ${run.plan.repository.path} is encrypted but has no ${KEYRING_FILE}: the copy could never be opened`, { step: 'open-copy' });
  if ((await run.state.target.read(KEYRING_FILE)) === hub) return ', keyring up to date';
  await placeFile(place, KEYRING_FILE, textBytes(hub));
  return ', keyring sent';
}
