// `failover --test` (docs/replication.md#testing-a-failover): the point booted as a transient domain
// <replica.domain>-test with no network, each disk a throwaway overlay beside replica.path on the
// point's layer. The replica, its failover state and its schedule are never touched. Recorded
// (domain and overlays) before anything exists; stop() destroys it, removes the overlays and
// forgets the record, newest first.

import { UndoStack, type UndoOutcome } from '../engine/undo-stack.js';
import { isSendenseError, SendenseError } from '../errors.js';
import { withoutHostResources } from '../libvirt/recovered-domain-xml.js';
import { replicaDomainXml, withoutInterfaces } from '../libvirt/replica-domain.js';
import { virshOn } from '../libvirt/virsh.js';
import type { NodeHost } from '../node/node.js';
import type { ReplicatePlan } from '../plan/types.js';
import { createLayer, existingFiles } from '../replica/replica-files.js';
import { failoverOverlay } from '../replica/replica-layout.js';
import type { ReplicaPoint, Store } from '../store/index.js';
import { execOn } from '../replica/replica-node.js';
import {
  endTestDomain,
  TEST_DOMAIN_RESOURCE,
  testDomainName,
  watchDomain,
  type TestDomainFacts,
} from './test-domain.js';

export interface TestDisk {
  readonly key: number;
  /** Where the test's writes go, removed when it ends. */
  readonly overlay: string;
  /** The point's layer under it, only read. */
  readonly layer: string;
}

export interface FailoverTest {
  readonly domain: string;
  /** The replica node, for people. */
  readonly node: string;
  readonly point: ReplicaPoint;
  readonly disks: readonly TestDisk[];
  /** What the definition left out or changed, one line each. */
  readonly notes: readonly string[];
  /** 'gone' when the guest shut itself off (or someone destroyed it); else why the test cannot go on. */
  readonly ended: Promise<'gone' | SendenseError>;
  /** Destroys the domain, removes the overlays, forgets the record (each attempted). */
  stop(): Promise<readonly UndoOutcome[]>;
}

export async function startFailoverTest(
  store: Store,
  node: NodeHost,
  plan: ReplicatePlan,
  point: ReplicaPoint,
  runId: string,
  signal: AbortSignal,
): Promise<FailoverTest> {
  await refuseWrittenPoint(store, plan, point);
  const domain = testDomainName(plan.replica.domain!);
  const exec = execOn(node);
  const virsh = virshOn(exec, plan.replica.uri);
  const disks = point.disks.map((disk) => ({
    key: disk.diskKey,
    overlay: failoverOverlay(disk.path, point.id, true),
    layer: disk.layer,
  }));
  if ((await virsh.attempt(['domstate', domain])).exitCode === 0) {
    throw new SendenseError(
      `a domain ${domain} exists on ${node.description}: a test of this replica is running (a killed test's is ended by sendense-run doctor)`,
    );
  }
  const present = [
    ...(await existingFiles(
      exec,
      disks.map((disk) => disk.overlay),
    )),
  ];
  if (present.length > 0)
    throw new SendenseError(
      `${present.join(', ')} on ${node.description} exist${present.length === 1 ? 's' : ''} already: a test of point ${point.id} is running, or a killed one's is left (sendense-run doctor removes it)`,
    );
  const made = replicaDomainXml({
    domain,
    stored: point.definition ?? undefined,
    definition: plan.replica.definition,
    disks: point.disks.map((disk, i) => ({ key: disk.diskKey, source: disk.source, image: disks[i]!.overlay })),
    // Its memory and vCPUs as the failover's; no interface at all (below).
    changes: plan.replica.changes === undefined ? undefined : { ...plan.replica.changes, network: [] },
  });
  // Beside the original: none of its networks, shares, files, devices or ports.
  const beside = withoutHostResources(withoutInterfaces(made.xml));
  const xml = beside.xml;
  const notes = [...made.notes, ...beside.notes];
  signal.throwIfAborted();

  const undo = new UndoStack();
  const facts: TestDomainFacts = { domain, uri: plan.replica.uri, overlays: disks.map((disk) => disk.overlay) };
  try {
    await store.recordNodeResource({
      runId,
      node: node.id,
      kind: TEST_DOMAIN_RESOURCE,
      name: domain,
      facts: { ...facts, nodeSpec: plan.replica.node ?? null },
    });
    undo.push({
      what: `forget the test domain ${domain}`,
      when: 'always',
      step: 'failover',
      run: () => store.forgetNodeResource(node.id, TEST_DOMAIN_RESOURCE, domain),
    });
    undo.push({
      what: `destroy ${domain} and remove its overlays on ${node.description}`,
      when: 'always',
      step: 'failover',
      run: () => endTestDomain(exec, facts),
    });
    for (const disk of disks)
      await createLayer(exec, disk.overlay, {
        backing: disk.layer,
        virtualSize: point.disks.find((candidate) => candidate.diskKey === disk.key)!.virtualSize,
      });
    signal.throwIfAborted();
    await virsh.runWithXml(['create', '--file'], xml, `start the test domain ${domain} on ${node.description}`);
    const watch = watchDomain(node, plan.replica.uri, domain);
    // The watch first: it must not take the domain's end for a lost link.
    undo.push({ what: `stop watching ${domain}`, when: 'always', step: 'failover', run: () => watch.stop() });
    return Object.freeze({
      domain,
      node: node.description,
      point,
      disks: Object.freeze(disks),
      notes,
      ended: watch.ended,
      stop: () => undo.unwind(),
    });
  } catch (error) {
    const failed = (await undo.unwind()).filter((outcome) => outcome.error !== undefined);
    if (failed.length === 0 || !isSendenseError(error)) throw error;
    const left = failed.map((outcome) => `could not ${outcome.what}: ${outcome.error!.message}`).join('; ');
    throw new SendenseError(`${error.message}; ${left} (sendense-run doctor gives back the rest)`, {
      cause: error,
      exitCode: error.exitCode,
    });
  }
}

// Failed over from the newest point, the replica domain writes into that point's layer (replica.path): not a disk to read.
async function refuseWrittenPoint(store: Store, plan: ReplicatePlan, point: ReplicaPoint): Promise<void> {
  const written = await writtenPoint(store, plan.name, point);
  if (written !== undefined)
    throw new SendenseError(`${written}, so it cannot be tested; test an older point (--point)`);
}

/** Why `point` is not a disk to read (the failed-over replica domain writes into its layer), if so. */
export async function writtenPoint(store: Store, plan: string, point: ReplicaPoint): Promise<string | undefined> {
  const failover = await store.replicaFailover(plan);
  if (failover === undefined || failover.pointId !== point.id) return undefined;
  if ((await store.latestCompleteReplicaPoint(plan))?.id !== point.id) return undefined;
  return `plan ${plan} is failed over to point ${point.id}: ${failover.domain} writes into its layer`;
}
