// The repository gauges of a plan's metrics file (docs/operations.md#monitoring): per VM and
// repository, the space on disk, the points, their oldest and newest times, the damaged ones and
// the last verify. Labelled with the plan too: two plans of one VM then write distinct series,
// which the textfile collector needs across its files.

import type { VmPoints } from '../repository/vm-points.js';
import { escapeLabel } from './labels.js';

interface RepositoryGauge {
  readonly name: string;
  readonly help: string;
  /** Undefined: no sample for this VM (e.g. never verified). */
  value(points: VmPoints): number | undefined;
}

const GAUGES: readonly RepositoryGauge[] = [
  {
    name: 'sendense_repository_bytes',
    help: "Space the VM's folder in the repository takes on disk (allocated, as du counts it).",
    value: (p) => p.bytes ?? 0,
  },
  {
    name: 'sendense_repository_points',
    help: 'Complete, undamaged points of the VM in the repository.',
    value: (p) => p.points,
  },
  {
    name: 'sendense_repository_damaged_points',
    help: 'Points of the VM in the repository that verify or a run found damaged.',
    value: (p) => p.damaged,
  },
  {
    name: 'sendense_suspect_points',
    help: 'Points of the VM in the repository marked suspect (ransomware signals, docs/anomaly.md) and not cleared yet.',
    value: (p) => p.suspect,
  },
  {
    name: 'sendense_repository_chain_points',
    help: "Points in the chain of the VM's newest point (0: no point).",
    value: (p) => p.chainLength,
  },
  {
    name: 'sendense_repository_oldest_point_timestamp_seconds',
    help: "When the VM's oldest point was taken (Unix time; 0: no point).",
    value: (p) => (p.oldest === undefined ? 0 : seconds(p.oldest.startedAt)),
  },
  {
    name: 'sendense_repository_newest_point_timestamp_seconds',
    help: "When the VM's newest point was taken (Unix time; 0: no point). Alert on time() minus this.",
    value: (p) => (p.newest === undefined ? 0 : seconds(p.newest.startedAt)),
  },
  {
    name: 'sendense_repository_last_verify_timestamp_seconds',
    help: "When verify last checked one of the VM's points (Unix time; 0: never).",
    value: (p) => (p.lastVerifiedAt === null ? 0 : seconds(p.lastVerifiedAt)),
  },
  {
    name: 'sendense_repository_last_verify_success',
    help: '1 when every point verify checked was sound, 0 when one is damaged; no sample before the first verify.',
    value: (p) => (p.verifiedSound === null ? undefined : Number(p.verifiedSound)),
  },
];

export function repositoryGauges(plan: string, repositories: readonly VmPoints[]): string[] {
  if (repositories.length === 0) return [];
  const labels = (p: VmPoints) =>
    `plan="${escapeLabel(plan)}",vm="${escapeLabel(p.vm)}",repository="${escapeLabel(p.repository)}"`;
  return GAUGES.flatMap((gauge) => [
    `# HELP ${gauge.name} ${gauge.help}`,
    `# TYPE ${gauge.name} gauge`,
    ...repositories.flatMap((p) => {
      const value = gauge.value(p);
      return value === undefined ? [] : [`${gauge.name}{${labels(p)}} ${value}`];
    }),
  ]);
}

function seconds(iso: string): number {
  return Date.parse(iso) / 1000;
}
