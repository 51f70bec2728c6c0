// Walks one meta context over a range, looping because a BLOCK_STATUS reply may cover less
// than asked (proto.md "NBD_CMD_BLOCK_STATUS"), and clipping the last extent to the range.

import { SendenseError } from '../errors.js';
import type { NbdConnection } from './connection.js';
import type { Extent } from './extent.js';

export async function* walkExtents(
  connection: NbdConnection,
  context: string,
  offset: number,
  end: number,
): AsyncGenerator<Extent> {
  if (!connection.hasMetaContext(context))
    throw new SendenseError(`NBD server ${connection.where} does not offer meta context '${context}'`);
  let at = offset;
  while (at < end) {
    const replies = await connection.blockStatus(at, end - at);
    const extents = replies.get(context);
    if (extents === undefined || extents.length === 0) {
      throw new SendenseError(`NBD server ${connection.where} sent no '${context}' status for offset ${at}`);
    }
    for (const extent of extents) {
      if (at >= end) break;
      if (extent.length === 0)
        throw new SendenseError(`NBD server ${connection.where} sent an empty '${context}' extent at ${extent.offset}`);
      const length = Math.min(extent.length, end - at);
      yield Object.freeze({ offset: at, length, flags: extent.flags });
      at += length;
    }
  }
}

// Joins neighbouring extents with the same flags, so requests can be as large as allowed.
export async function* mergeExtents(extents: AsyncIterable<Extent>): AsyncGenerator<Extent> {
  let current: Extent | undefined;
  for await (const extent of extents) {
    if (current !== undefined && current.flags === extent.flags && current.offset + current.length === extent.offset) {
      current = { offset: current.offset, length: current.length + extent.length, flags: current.flags };
      continue;
    }
    if (current !== undefined) yield Object.freeze(current);
    current = extent;
  }
  if (current !== undefined) yield Object.freeze(current);
}
