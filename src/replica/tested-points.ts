// The points a failover test or a drill reads (docs/replication.md#testing-a-failover,
// docs/drills.md#a-replicas-point): each test domain's or drill's overlays are on one point's
// layers, whose backing chain holds every point under it. A fold writes the older point's file and
// renames it over the next one's, so none of them is folded while the record lasts (a killed
// run's until doctor ends it): QEMU holds their write lock.

import { TEST_DOMAIN_RESOURCE } from '../failover/test-domain.js';
import { DRILL_RESOURCE, type DrillDomainFacts } from '../libvirt/drill-domain.js';
import type { ReplicaPoint, Store } from '../store/index.js';
import { failoverOverlay } from './replica-layout.js';

export interface TestedPoints {
  /** The tested points and every point under them. */
  readonly held: ReadonlySet<string>;
  /** Each test domain or drill and the point it runs, for messages. */
  readonly tests: readonly { readonly by: 'test' | 'drill'; readonly domain: string; readonly pointId: string }[];
}

// `points`: the plan's complete points, oldest first.
export async function testedPoints(store: Store, node: string, points: readonly ReplicaPoint[]): Promise<TestedPoints> {
  const held = new Set<string>();
  const tests: { by: 'test' | 'drill'; domain: string; pointId: string }[] = [];
  for (const resource of await store.allNodeResources()) {
    if (resource.node !== node) continue;
    let tested: ReplicaPoint | undefined;
    if (resource.kind === TEST_DOMAIN_RESOURCE) {
      const overlays = (resource.facts as { overlays?: readonly string[] }).overlays ?? [];
      tested = points.find((point) =>
        point.disks.some((disk) => overlays.includes(failoverOverlay(disk.path, point.id, true))),
      );
    } else if (resource.kind === DRILL_RESOURCE) {
      const drilled = (resource.facts as Partial<DrillDomainFacts>).replicaPoint;
      tested = points.find((point) => point.id === drilled);
    }
    if (tested === undefined) continue;
    tests.push({ by: resource.kind === DRILL_RESOURCE ? 'drill' : 'test', domain: resource.name, pointId: tested.id });
    // Its chain's points up to it (oldest first): the layers its overlay's backing chain holds.
    for (const point of points.slice(0, points.indexOf(tested) + 1))
      if (point.chainId === tested.chainId) held.add(point.id);
  }
  return { held, tests };
}
