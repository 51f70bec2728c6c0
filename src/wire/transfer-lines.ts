// The node transfer's stdout, one JSON object per line (runners/README.md, "Output"): every line
// it prints, the writer it prints them with, and the parser the hub reads them with. The VMware
// client prints the same lines (its done line adds changeId and virtualSize), so the parser takes
// what another program may leave out and ignores types it does not know.

/** [guest offset, length, hex digest] of a data write; [offset, length] of a range written as zeroes. */
export type DataRange = readonly [number, number, string];
export type ZeroRange = readonly [number, number];

export interface StartLine {
  readonly type: 'start';
  readonly disk: number;
  /** The source's size (the VMware client may send it here or in its done line). */
  readonly virtualSize?: number;
  readonly bytesToDo?: number;
  /** Why an incremental copies every block of the disk (its bitmap's mark is gone: the disk shrank since). */
  readonly wholeDisk?: string;
}

export interface ProgressLine {
  readonly type: 'progress';
  readonly disk: number;
  readonly bytesDone: number;
  readonly bytesToDo: number;
}

export interface DoneLine {
  readonly type: 'done';
  readonly disk: number;
  readonly bytesDone: number;
  readonly bytesToDo: number;
  readonly bytesWritten?: number;
  readonly bytesZeroed?: number;
  readonly seconds?: number;
  /** The VMware client's CBT change id of this backup. */
  readonly changeId?: string;
  readonly virtualSize?: number;
  /** What copied the data when not the transfer itself over NBD: "qemu-img convert" (a local full, runners/transfer/qemu-copy.ts). */
  readonly copiedWith?: string;
  /** 64 KiB blocks of the copied data sampled, and how many of them do not compress (docs/anomaly.md#what-is-measured). */
  readonly sampledBlocks?: number;
  readonly incompressibleBlocks?: number;
}

/** A batch of what was written, all before the disk's done line. */
export interface DigestsLine {
  readonly type: 'digests';
  readonly disk: number;
  readonly algorithm: string;
  readonly data: readonly DataRange[];
  readonly zero: readonly ZeroRange[];
}

export interface ErrorLine {
  readonly type: 'error';
  /** Undefined: the whole transfer failed (the VMware client's login). */
  readonly disk?: number;
  readonly message: string;
}

/** How one disk's copy ended (one per disk in the result line). */
export interface DiskOutcome {
  readonly disk: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly bytesDone?: number;
  readonly bytesToDo?: number;
  readonly bytesWritten?: number;
  readonly bytesZeroed?: number;
  readonly seconds?: number;
  readonly copiedWith?: string;
  readonly sampledBlocks?: number;
  readonly incompressibleBlocks?: number;
}

export interface ResultLine {
  readonly type: 'result';
  readonly ok: boolean;
  readonly disks: readonly DiskOutcome[];
}

/** Facts for operators and tests (qemu-nbd PIDs, peak memory); the hub ignores them. */
export interface DebugLine {
  readonly type: 'debug';
  readonly message: string;
  readonly disk?: number;
  readonly [fact: string]: unknown;
}

/** The rate the transfer holds to from now on: at start with --rate, and after each control line (transfer-control.ts). */
export interface RateLine {
  readonly type: 'rate';
  /** Bytes per second; null = not limited. */
  readonly bytesPerSecond: number | null;
  /** The transfer's own PID: the same one before and after a change (it is not restarted). */
  readonly pid?: number;
}

export type TransferLine =
  StartLine | ProgressLine | DoneLine | DigestsLine | ErrorLine | ResultLine | RateLine | DebugLine;

/** A stdout line that is not JSON: shown to the user as it is. */
export interface TextLine {
  readonly type: 'text';
  readonly text: string;
}

export function formatTransferLine(line: TransferLine): string {
  return JSON.stringify(line);
}

// Undefined: JSON the hub has no use for (a type it does not know, a line without what it needs).
export function parseTransferLine(text: string): TransferLine | TextLine | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { type: 'text', text };
  }
  if (typeof json !== 'object' || json === null) return undefined;
  const line = json as Readonly<Record<string, unknown>>;
  const disk = isCount(line.disk) ? line.disk : undefined;
  switch (line.type) {
    case 'start':
      if (disk === undefined) return undefined;
      return {
        type: 'start',
        disk,
        ...numbers(line, 'virtualSize', 'bytesToDo'),
        ...(typeof line.wholeDisk === 'string' ? { wholeDisk: line.wholeDisk } : {}),
      };
    case 'progress':
      if (disk === undefined || !isCount(line.bytesToDo)) return undefined;
      return { type: 'progress', disk, bytesDone: count(line.bytesDone), bytesToDo: line.bytesToDo };
    case 'done':
      if (disk === undefined) return undefined;
      return {
        type: 'done',
        disk,
        bytesDone: count(line.bytesDone),
        bytesToDo: count(line.bytesToDo),
        ...numbers(
          line,
          'bytesWritten',
          'bytesZeroed',
          'seconds',
          'virtualSize',
          'sampledBlocks',
          'incompressibleBlocks',
        ),
        ...(typeof line.changeId === 'string' ? { changeId: line.changeId } : {}),
        ...(typeof line.copiedWith === 'string' ? { copiedWith: line.copiedWith } : {}),
      };
    case 'digests':
      if (disk === undefined || typeof line.algorithm !== 'string') return undefined;
      if (!isList(line.data ?? [], isDataRange) || !isList(line.zero ?? [], isZeroRange)) return undefined;
      return {
        type: 'digests',
        disk,
        algorithm: line.algorithm,
        data: (line.data ?? []) as DataRange[],
        zero: (line.zero ?? []) as ZeroRange[],
      };
    case 'error':
      return {
        type: 'error',
        ...(disk === undefined ? {} : { disk }),
        message: typeof line.message === 'string' ? line.message : 'unknown error',
      };
    case 'result':
      if (typeof line.ok !== 'boolean' || !isList(line.disks, isOutcome)) return undefined;
      return { type: 'result', ok: line.ok, disks: line.disks };
    case 'rate':
      if (line.bytesPerSecond !== null && !isCount(line.bytesPerSecond)) return undefined;
      return { type: 'rate', bytesPerSecond: line.bytesPerSecond, ...numbers(line, 'pid') };
    case 'debug':
      return { ...line, type: 'debug', message: typeof line.message === 'string' ? line.message : '' };
    default:
      return undefined;
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function count(value: unknown): number {
  return isCount(value) ? value : 0;
}

// The named fields that are numbers, the others left out.
function numbers<K extends string>(line: Readonly<Record<string, unknown>>, ...keys: K[]): { [P in K]?: number } {
  const picked: { [P in K]?: number } = {};
  for (const key of keys) if (typeof line[key] === 'number') picked[key] = line[key] as number;
  return picked;
}

function isList<T>(value: unknown, isItem: (item: unknown) => item is T): value is T[] {
  return Array.isArray(value) && value.every((item) => isItem(item));
}

function isDataRange(value: unknown): value is DataRange {
  return (
    Array.isArray(value) && value.length === 3 && isCount(value[0]) && isCount(value[1]) && typeof value[2] === 'string'
  );
}

function isZeroRange(value: unknown): value is ZeroRange {
  return Array.isArray(value) && value.length === 2 && isCount(value[0]) && isCount(value[1]);
}

function isOutcome(value: unknown): value is DiskOutcome {
  return (
    typeof value === 'object' &&
    value !== null &&
    isCount((value as DiskOutcome).disk) &&
    typeof (value as DiskOutcome).ok === 'boolean'
  );
}
