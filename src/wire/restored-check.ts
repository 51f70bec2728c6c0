// What the hub asks the node transfer to check of a restored disk on its node, and the one line it
// answers (runners/README.md, "--check-restored"; docs/how-it-works.md#a-verified-restore): the
// request, one JSON line on stdin, names the image and what the point holds there (ranges with
// their digests, ranges of zeroes); the answer says equal, the first difference, or that this
// check cannot say. Only offsets and digests go to the node, never a key.

import { SendenseError } from '../errors.js';
import type { Interval } from '../repository/intervals.js';
import type { RangeCheck } from '../repository/point-model.js';
import type { PointCheck } from '../repository/point-check.js';
import { parseTransferTarget, transferTargetText, type TransferTarget } from './transfer-request.js';

export const CHECK_RESTORED = '--check-restored';

export interface RestoredCheckRequest {
  /** The restored disk as the node reaches it: an NBD URL, or `file:FORMAT:/abs/path` (the targets string's form). */
  readonly image: TransferTarget;
  /** The point's virtual size. */
  readonly size: number;
  readonly checks: readonly RangeCheck[];
  readonly zeroes: readonly Interval[];
}

/** The answer line: the check's outcome, or why the node could not run it. */
export type RestoredCheckLine = PointCheck | { readonly outcome: 'error'; readonly bytes: 0; readonly why: string };

export function formatRestoredCheckRequest(request: RestoredCheckRequest): string {
  const checks = request.checks.map(({ offset, length, algorithm, digest }) => [offset, length, algorithm, digest]);
  const image = transferTargetText(request.image);
  return `${JSON.stringify({ image, size: request.size, checks, zeroes: request.zeroes })}\n`;
}

// The request line, every field checked: a bad one is one clear error.
export function parseRestoredCheckRequest(text: string): RestoredCheckRequest {
  const bad = (what: string) => new SendenseError(`--check-restored: ${what}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw bad('the request is not JSON');
  }
  const { image, size, checks, zeroes } = (json ?? {}) as Record<string, unknown>;
  if (typeof image !== 'string') throw bad('no image');
  if (!isCount(size)) throw bad('no size');
  if (!Array.isArray(checks) || !Array.isArray(zeroes)) throw bad('no checks or zeroes');
  const ranges = checks.map((entry: unknown): RangeCheck => {
    if (!Array.isArray(entry) || entry.length !== 4) throw bad('a check is not [offset, length, algorithm, digest]');
    const [offset, length, algorithm, digest] = entry as unknown[];
    if (!isCount(offset) || !isCount(length) || typeof algorithm !== 'string' || typeof digest !== 'string')
      throw bad('a check is not [offset, length, algorithm, digest]');
    return { offset, length, algorithm, digest };
  });
  const zero = zeroes.map((entry: unknown): Interval => {
    if (!Array.isArray(entry) || entry.length !== 2 || !isCount(entry[0]) || !isCount(entry[1]))
      throw bad('a zero range is not [offset, length]');
    return [entry[0], entry[1]];
  });
  return { image: parseTransferTarget(image), size, checks: ranges, zeroes: zero };
}

export function formatRestoredCheckLine(line: RestoredCheckLine): string {
  return JSON.stringify(line);
}

// Undefined: not an answer this hub knows (the full comparison decides).
export function parseRestoredCheckLine(text: string): RestoredCheckLine | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const line = (json ?? {}) as Record<string, unknown>;
  if (!isCount(line.bytes)) return undefined;
  if (line.outcome === 'equal') return { outcome: 'equal', bytes: line.bytes };
  if (line.outcome === 'different' && isCount(line.offset))
    return { outcome: 'different', bytes: line.bytes, offset: line.offset };
  if ((line.outcome === 'unknown' || line.outcome === 'error') && typeof line.why === 'string')
    return line.outcome === 'unknown'
      ? { outcome: 'unknown', bytes: line.bytes, why: line.why }
      : { outcome: 'error', bytes: 0, why: line.why };
  return undefined;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
