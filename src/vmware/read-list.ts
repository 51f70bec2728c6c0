// What the node transfer reads of one VMware disk (runners/README.md, "vsphere: sources"): the
// snapshot's data file over the datastore's HTTPS file access, the areas vSphere named, and the
// fingerprint its certificate must have. Written by the hub into a file on the node; the session
// cookie is not in it (it comes in the transfer's environment).

import { SendenseError } from '../errors.js';
import { FINGERPRINT_PATTERN } from './pinned-agent.js';

export interface ReadList {
  /** https://host/folder/PATH?dcPath=…&dsName=… of the flat data file. */
  readonly url: string;
  readonly sha256: string;
  /** The disk's capacity in bytes. */
  readonly size: number;
  /** [offset, length] in disk order, disjoint: every byte to read and write (zeroes written as zeroes). */
  readonly areas: readonly (readonly [number, number])[];
}

export function formatReadList(list: ReadList): string {
  return `${JSON.stringify(list)}\n`;
}

export function parseReadList(text: string, where: string): ReadList {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const list = value as ReadList | undefined;
  const valid =
    list !== undefined &&
    typeof list.url === 'string' &&
    list.url.startsWith('https://') &&
    typeof list.sha256 === 'string' &&
    FINGERPRINT_PATTERN.test(list.sha256) &&
    Number.isSafeInteger(list.size) &&
    list.size > 0 &&
    Array.isArray(list.areas) &&
    list.areas.every(
      (area, index) =>
        Array.isArray(area) &&
        Number.isSafeInteger(area[0]) &&
        Number.isSafeInteger(area[1]) &&
        area[0] >= (index === 0 ? 0 : list.areas[index - 1]![0] + list.areas[index - 1]![1]) &&
        area[1] > 0 &&
        area[0] + area[1] <= list.size,
    );
  if (!valid)
    throw new SendenseError(`${where} is not a read list (url, sha256, size, areas in disk order within the size)`);
  return list;
}
