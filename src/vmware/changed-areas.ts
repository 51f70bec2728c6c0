// QueryChangedDiskAreas, paged until the disk's capacity (vSphere API: one answer covers
// [startOffset, startOffset + length) and may stop short of the end; the next call starts there).
// changeId "*" asks for the allocated areas (a full); an earlier change id for what changed since.

import { SendenseError } from '../errors.js';
import { ChainRefusedAtSnapshot } from '../source/backup-source.js';
import { child, childElements, childText, moRefXml, xmlEscape, type MoRef } from './soap-xml.js';
import { VimFault, type VimClient } from './vim-client.js';

export interface DiskArea {
  readonly offset: number;
  readonly length: number;
}

/** A change id vSphere refused (a CBT reset, a storage vMotion, a resize): the chain cannot go on from it. */
export class ChangeIdRejected extends ChainRefusedAtSnapshot {
  constructor(
    readonly changeId: string,
    readonly diskKey: number,
    cause: Error,
  ) {
    super(`vSphere rejected change id ${changeId} of disk ${diskKey} at the snapshot: ${cause.message}`, {
      disk: diskKey,
      cause,
    });
  }
}

// The faults by which vSphere says a change id is not valid at a snapshot
// (docs/vmware.md#a-change-id-vsphere-rejects): a FileFault (its change tracking file, -ctk.vmdk,
// no longer answers for it: a CBT reset the change id does not show), or InvalidArgument naming
// `changeId`. An InvalidArgument naming another parameter, or any other fault, is not.
export function refusesChangeId(fault: VimFault): boolean {
  return (
    fault.faultType === 'FileFault' || (fault.faultType === 'InvalidArgument' && fault.invalidProperty === 'changeId')
  );
}

export async function changedAreas(
  client: VimClient,
  vm: MoRef,
  snapshot: MoRef,
  deviceKey: number,
  capacity: number,
  changeId: string,
): Promise<{ areas: DiskArea[]; calls: number }> {
  const areas: DiskArea[] = [];
  let calls = 0;
  for (let start = 0; start < capacity;) {
    calls++;
    const body = `${moRefXml('_this', vm)}${moRefXml('snapshot', snapshot)}<deviceKey>${deviceKey}</deviceKey><startOffset>${start}</startOffset><changeId>${xmlEscape(changeId)}</changeId>`;
    let answer;
    try {
      answer = child(await client.call('QueryChangedDiskAreas', body), 'returnval');
    } catch (error) {
      if (error instanceof VimFault && changeId !== '*' && refusesChangeId(error)) {
        throw new ChangeIdRejected(changeId, deviceKey, error);
      }
      // Anything else (a lost session, a server error, a cut connection) is no verdict on the change
      // id: the run fails in one line and the chain goes on from it next time.
      throw new SendenseError(
        `QueryChangedDiskAreas of disk ${deviceKey} from ${start} failed: ${(error as Error).message}`,
        { disk: deviceKey, cause: error },
      );
    }
    const from = Number(answer === undefined ? NaN : childText(answer, 'startOffset'));
    const length = Number(answer === undefined ? NaN : childText(answer, 'length'));
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(length) || from !== start || length <= 0) {
      throw new SendenseError(
        `vSphere answered QueryChangedDiskAreas of disk ${deviceKey} at ${start} with a range that does not go on from there (${from}+${length})`,
        { disk: deviceKey },
      );
    }
    for (const area of childElements(answer!, 'changedArea')) {
      const offset = Number(childText(area, 'start'));
      const size = Number(childText(area, 'length'));
      if (!(offset >= start && size > 0 && offset + size <= Math.min(capacity, from + length))) {
        throw new SendenseError(
          `vSphere named a changed area of disk ${deviceKey} outside the answer's range (${offset}+${size})`,
          { disk: deviceKey },
        );
      }
      const last = areas.at(-1);
      if (last !== undefined && offset < last.offset + last.length)
        throw new SendenseError(`vSphere named changed areas of disk ${deviceKey} out of order at ${offset}`, {
          disk: deviceKey,
        });
      if (last !== undefined && offset === last.offset + last.length)
        areas[areas.length - 1] = { offset: last.offset, length: last.length + size };
      else areas.push({ offset, length: size });
    }
    start = from + length;
  }
  return { areas, calls };
}
