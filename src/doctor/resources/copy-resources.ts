// What a copy run leaves on its target (docs/copies.md#crash-safety): a merge is finished, as the
// plan's next run would; a partial file (an unfinished upload) is removed. A target that reaches
// itself (a bucket) is given back through its own connection, with the keys doctor has now.

import { copyPlace } from '../../copy/copy-place.js';
import { COPY_MERGE_RESOURCE, finishCopyMerge, type CopyMergeFacts } from '../../copy/copy-retention.js';
import type { CopyTarget } from '../../copy/copy-target.js';
import { COPY_PARTIAL_RESOURCE, partialFiles } from '../../copy/partial-files.js';
import { copyTargetOfFacts } from '../../copy/targets/index.js';
import type { NodeResource } from '../../store/index.js';
import type { DoctorContext } from '../sweeper.js';
import type { RecoveryResourceKind } from './resource-kind.js';

const reachesItself = (resource: NodeResource) => !copyTargetOfFacts(resource.facts).onNode;

export const copyMerge: RecoveryResourceKind = {
  kind: COPY_MERGE_RESOURCE,
  rank: 80,
  reachesItself,
  describe: (resource) =>
    `merge on a copy of VM ${String(resource.facts.vm ?? '')} (${resource.name}, plan ${String(resource.facts.plan ?? '')})`,
  giveBack: async ({ doctor, host, resource, what, forget }) =>
    finishMerge(doctor, (await copyTargetOfFacts(resource.facts).reopen(host)).target, resource, what, forget),
};

export const copyPartial: RecoveryResourceKind = {
  kind: COPY_PARTIAL_RESOURCE,
  rank: 90,
  reachesItself,
  describe: (resource) =>
    `${copyTargetOfFacts(resource.facts).leftBehind.what} ${resource.name} of a copy (plan ${String(resource.facts.plan ?? '')})`,
  giveBack: async ({ doctor, host, resource, what, forget }) =>
    removePartial(doctor, (await copyTargetOfFacts(resource.facts).reopen(host)).target, resource, what, forget),
};

/** A copy's resource on a target reached once for all of them (a bucket). */
export async function giveBackOnCopy(
  doctor: DoctorContext,
  target: CopyTarget,
  resource: NodeResource,
  what: string,
  forget: () => Promise<void>,
): Promise<void> {
  return resource.kind === COPY_PARTIAL_RESOURCE
    ? removePartial(doctor, target, resource, what, forget)
    : finishMerge(doctor, target, resource, what, forget);
}

function removePartial(
  doctor: DoctorContext,
  target: CopyTarget,
  resource: NodeResource,
  what: string,
  forget: () => Promise<void>,
): Promise<void> {
  return doctor.act(what, copyTargetOfFacts(resource.facts).leftBehind.removal, async () => {
    await target.removeLeft(resource.name);
    await forget();
  });
}

function finishMerge(
  doctor: DoctorContext,
  target: CopyTarget,
  resource: NodeResource,
  what: string,
  forget: () => Promise<void>,
): Promise<void> {
  const { store } = doctor;
  return doctor.act(what, 'finish it', async () => {
    const copy = resource.facts as unknown as CopyMergeFacts;
    const place = copyPlace(
      { target, partials: partialFiles(store, resource.runId, target, copy.plan) },
      copy.scratch ?? '',
      store,
      resource.runId,
    );
    if (place === undefined) throw new Error(`${target.description} cannot merge`);
    await finishCopyMerge(place, copy.vm, { store });
    await forget();
  });
}
