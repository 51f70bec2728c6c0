// A source type of the tests' own (docs/how-it-works.md#source-types): `rawfile`, raw image files on
// the node read as they lie, with no change tracking and no snapshot, so it implements only the
// facets every source has (inspection, reads). Everything it needs is here: its schema part, its
// plan check, what it declares it reads, its capabilities and its reader; the registry takes it
// with registerSourceType, the line a shipped type has in SOURCE_TYPES (src/source/source-types.ts).

import path from 'node:path';
import { SendenseError } from '../../../src/errors.js';
import type { DiskKey } from '../../../src/plan/types.js';
import { imageInfo } from '../../../src/qemu/index.js';
import type { SourceFacets, SourceInspection, SourceReads } from '../../../src/source/backup-source.js';
import type { SourceDefinition } from '../../../src/source/source-definition.js';
import type { SourceDiskFacts } from '../../../src/source/source-disk.js';

/** vm.source of type rawfile: a key and a raw image file each. */
export interface RawFileSource {
  readonly type: 'rawfile';
  readonly disks: readonly { readonly key: DiskKey; readonly file: string }[];
}

// A disk read as the node transfer reads any image file (the wire's qemu read, format raw).
const facts = (key: DiskKey, file: string, virtualSize: number): SourceDiskFacts => ({
  key,
  source: { type: 'qemu', path: file, format: 'raw' },
  virtualSize,
  path: file,
});

function inspection(source: RawFileSource): SourceInspection {
  return {
    checkReady: () => undefined,
    async inspect(exec) {
      const disks = await Promise.all(
        source.disks.map(async ({ key, file }) => {
          const info = await imageInfo(file, { runner: (argv) => exec(argv), format: 'raw' }).catch(
            (error: unknown) => {
              throw new SendenseError((error as Error).message, { step: 'resolve-chain', disk: key, cause: error });
            },
          );
          return facts(key, file, info.virtualSize);
        }),
      );
      return { disks, notes: [] };
    },
    uninspected: () => source.disks.map(({ key, file }) => facts(key, file, 0)),
    sizeKnownBeforeTransfer: true,
    newImageSize: (fact) => fact.virtualSize,
    label: (disk) => (disk.source.type === 'qemu' ? disk.source.path : ''),
  };
}

const pathOf = (disk: { readonly source: SourceDiskFacts['source'] }): string =>
  disk.source.type === 'qemu' ? disk.source.path : '';

const reads: SourceReads = {
  describeRead: (disk) => `disk ${disk.key}: ${pathOf(disk)} (raw, read whole)`,
  transferReads: (disks) => ({
    kind: 'node-transfer',
    reads: disks.map((disk) => ({ key: disk.key, source: { kind: 'qemu', path: pathOf(disk), format: 'raw' } })),
  }),
  transfersWith: 'node-transfer',
  takesTurns: true,
  takesRate: true,
  reportsDigests: true,
};

// A definition as src/source/source-definition.ts has it, for a type outside the shipped union.
type RawFileDefinition = Omit<SourceDefinition, 'type' | 'build' | 'open'> & {
  readonly type: 'rawfile';
  build(raw: unknown): RawFileSource;
  open(source: RawFileSource): SourceFacets;
};

const definition: RawFileDefinition = {
  type: 'rawfile',
  schema: {
    about: 'rawfile: (a test type) raw image files on the node, read whole every time.',
    source: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'disks'],
      properties: {
        type: { const: 'rawfile' },
        disks: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['key', 'file'],
            properties: { key: { $ref: '#/definitions/diskKey' }, file: { type: 'string', minLength: 1 } },
          },
        },
      },
    },
  },
  build: (raw) => raw as RawFileSource,
  // A relative file would be read from wherever the node's transfer happens to run.
  checks: (source, { issues }) => {
    const disks = Array.isArray(source.disks) ? (source.disks as { file?: unknown }[]) : [];
    for (const [i, disk] of disks.entries())
      if (typeof disk.file === 'string' && !path.isAbsolute(disk.file))
        issues.error(['vm', 'source', 'disks', i, 'file'], `vm.source.disks[${i}].file: give an absolute path`);
  },
  declared: (source, vm, host) =>
    (Array.isArray(source.disks) ? (source.disks as { file?: unknown }[]) : []).flatMap((disk, i) =>
      typeof disk.file === 'string'
        ? [
            {
              key: `${host}\0image\0${disk.file}`,
              what: `raw file ${disk.file} on ${host}`,
              vm,
              path: ['vm', 'source', 'disks', i, 'file'],
              where: `vm.source.disks[${i}].file`,
            },
          ]
        : [],
    ),
  untrackedDisk: (disk, i) => ({
    path: ['vm', 'source', 'disks', i],
    message: `vm.source.disks[${i}]: a rawfile source tracks no changes, so every backup of disk ${String(disk.key)} is a full copy`,
  }),
  notReplicable: 'a rawfile source (a test type) is not replicated',
  capabilities: { hasLibvirtDomain: false, namesImageFiles: true, tracksChangesInImageFiles: false },
  // Inspection and reads only: no change tracking (every backup full), no snapshot (read as it lies).
  open: (source) => ({ inspection: inspection(source), reads }),
};

// The engine's sources are the shipped types' union, which a test's type is not in: this one cast.
export const rawFileSourceDefinition = definition as unknown as SourceDefinition;
