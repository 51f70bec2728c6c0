// An object a bucket view serves, pinned, and how its bytes are fetched (./bucket-blocks.ts, ./kept-blocks.ts).

export interface ServedObject {
  readonly key: string;
  readonly size: number;
  readonly versionId?: string;
  /** The ETag seen when pinned: each GET asks for it (If-Match). */
  readonly etag?: string;
}

/**
 * Bytes start..end (inclusive) of `object`, as the pieces they came in, in order. `into`, when
 * given, is a buffer of exactly that length the GET may fill and return as its one piece.
 */
export type RangeGet = (object: ServedObject, start: number, end: number, into?: Buffer) => Promise<readonly Buffer[]>;
