// What a type of backup source (vm.source.type) is, in one module of this folder (as the copy
// targets' src/copy/targets/): how its plan part is built and checked, what it declares it reads,
// what it can do asked by name, and its reader for a run. Nothing outside src/source asks a
// source's type; it asks one of these (docs/how-it-works.md#change-tracking-by-source).

import type { CheckContext } from '../plan/checks/check-context.js';
import type { RawSource } from '../plan/plan-shape.generated.js';
import type { PlanPath } from '../plan/plan-issue.js';
import type { RawObject } from '../plan/raw-plan.js';
import type { Source } from '../plan/types.js';
import type { SourceSchema } from '../plan/source-schemas.js';
import type { SourceFacets } from './backup-source.js';

/** One thing a plan reads from (src/plan/declared-sources.ts). */
export interface DeclaredSource {
  /** Host and source, the same for two plans that read the same thing. */
  readonly key: string;
  /** For messages: "disk image /var/lib/libvirt/images/a.qcow2 on kvm1". */
  readonly what: string;
  readonly vm: string;
  /** Where the plan writes it, and that place for messages ("vm.source.disks[1].path"). */
  readonly path: PlanPath;
  readonly where: string;
}

/** What a type of source can do, asked for by name (sourceCan in ./source-types.ts). */
export interface SourceCapabilities {
  /**
   * It is a libvirt domain (vm.source.domain, vm.source.uri): a failover asks whether it still runs,
   * a failback starts it again, retire deletes its checkpoints, its XML defines a replica domain.
   */
  readonly hasLibvirtDomain: boolean;
  /** The plan names each disk's image file on the node (vm.source.disks[].path). */
  readonly namesImageFiles: boolean;
  /** It tracks changes in bitmaps of its image files, added by a sync (doctor removes a failed sync's). */
  readonly tracksChangesInImageFiles: boolean;
}

/** A warning of validate about a part of the plan: where, and what it means. */
export interface SourceWarning {
  readonly path: PlanPath;
  readonly message: string;
}

export interface SourceDefinition<S extends Source = Source> {
  readonly type: S['type'];
  /** validate: vm.source of this type as JSON Schema, for a type schemas/plan.schema.json does not have (a test's own). */
  readonly schema?: SourceSchema;
  /** build: the plan's vm.source (valid data) with this type's defaults filled in. */
  build(raw: Extract<RawSource, { type: S['type'] }>, vmName: string): S;
  /** validate: what this type checks of vm.source (`source`, a raw object) that the schema cannot. */
  readonly checks?: (source: RawObject, context: CheckContext) => void;
  /**
   * validate: what the plan reads from as its file writes it, with the host it is on, so plans
   * checked together can be told they read one source under two VM names. `host`: for messages and the key.
   */
  declared(source: RawObject, vm: string, host: string): DeclaredSource[];
  /** validate of an incremental: why a disk as written is copied whole every time (no change tracking); undefined: it is not. */
  readonly untrackedDisk?: (disk: RawObject, index: number) => SourceWarning | undefined;
  /** validate of a replicate plan: why this source cannot be replicated, said as the error; undefined: it can. */
  readonly notReplicable?: string;
  readonly capabilities: SourceCapabilities;
  /**
   * A run's reader of the source, as the facets it has (./backup-source.ts): inspection and reads,
   * change tracking and a snapshot if it has them. Steps never ask which source they read.
   */
  open(source: S): SourceFacets;
  /**
   * A reader in a module of its own (lazyOpen): imported before a run of this type opens it
   * (loadSourceType), never by a command or a run of another type.
   */
  readonly load?: () => Promise<void>;
}

/**
 * load and open of a type whose reader is a module of its own, imported only by a run of that type
 * (`load` below, awaited by loadSourceType): the libvirt and VMware readers are a sixth of the
 * code the run command loaded and compiled at every start (docs/how-it-works.md#source-types).
 */
export function lazyOpen<S extends Source>(
  type: S['type'],
  load: () => Promise<(source: S) => SourceFacets>,
): Pick<SourceDefinition<S>, 'open' | 'load'> {
  let opener: ((source: S) => SourceFacets) | undefined;
  return {
    load: async () => {
      opener ??= await load();
    },
    open: (source) => {
      // A bug: every run loads its kind and its source's type first (src/kinds/index.ts loadKind).
      if (opener === undefined) throw new Error(`source type '${type}' was opened before loadSourceType('${type}')`);
      return opener(source);
    },
  };
}
