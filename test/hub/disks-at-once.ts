// Most disks in transfer at the same moment, from the progress events of one or several runs: a
// disk is in transfer from its first progress event to its last (bytesDone = bytesToDo); an end
// and a start at the same millisecond do not overlap.

export interface ProgressLine {
  readonly type: string;
  readonly time?: unknown;
  readonly disk?: unknown;
  readonly plan?: unknown;
  readonly bytesDone?: unknown;
  readonly bytesToDo?: unknown;
}

export function mostDisksAtOnce(lines: readonly ProgressLine[]): number {
  const spans = new Map<string, { start: number; end: number }>();
  for (const line of lines) {
    if (line.type !== 'progress' || line.disk === undefined) continue;
    const at = Date.parse(String(line.time));
    const key = `${String(line.plan ?? '')}/${String(line.disk)}`;
    const span = spans.get(key) ?? { start: at, end: at };
    if (line.bytesDone === line.bytesToDo) span.end = at;
    spans.set(key, span);
  }
  const edges = [...spans.values()].flatMap((span) => [[span.start, 1] as const, [span.end, -1] as const]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, step] of edges) most = Math.max(most, (now += step));
  return most;
}
