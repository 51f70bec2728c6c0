// The order points were taken in, where no database recorded it (a copy's or a repository's
// manifests): a parent before what stands on it, then by the time each was taken. Times alone are
// not enough: ids sort by the second only, and a hub clock set back stamps a point older than its
// parent (docs/how-it-works.md#retention).

export interface OrderedPoint {
  readonly id: string;
  readonly parentId: string | null;
  readonly startedAt: string;
}

export function takingOrder<P extends OrderedPoint>(points: readonly P[]): P[] {
  const byId = new Map(points.map((point) => [point.id, point]));
  const byTime = [...points].sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
  const ordered: P[] = [];
  const placed = new Set<string>();
  const place = (point: P, seen: Set<string>): void => {
    if (placed.has(point.id) || seen.has(point.id)) return;
    seen.add(point.id);
    const parent = point.parentId === null ? undefined : byId.get(point.parentId);
    if (parent !== undefined) place(parent, seen);
    placed.add(point.id);
    ordered.push(point);
  };
  for (const point of byTime) place(point, new Set());
  return ordered;
}
