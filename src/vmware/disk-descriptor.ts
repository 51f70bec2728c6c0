// A vmdk's descriptor (VMware "Virtual Disk Format 1.1", the text descriptor): which file holds a
// disk's bytes and how. The HTTPS reader reads a flat extent exactly; anything else (a sparse or
// delta disk: a VM with other snapshots) is refused in one line, never read wrong.

import https from 'node:https';
import { SendenseError } from '../errors.js';
import { SESSION_COOKIE, type VimClient } from './vim-client.js';

export interface Extent {
  readonly access: string;
  readonly sectors: number;
  readonly type: string;
  readonly file: string;
  readonly offset: number;
}

export interface Descriptor {
  readonly createType: string;
  readonly extents: readonly Extent[];
}

// Flat layouts: one extent whose bytes are the disk's bytes from its offset on.
const FLAT_TYPES: ReadonlySet<string> = new Set([
  'vmfs',
  'monolithicFlat',
  'vmfsThin',
  'vmfsEagerZeroedThick',
  'vmfsPreallocated',
]);
const FLAT_EXTENTS: ReadonlySet<string> = new Set(['VMFS', 'FLAT']);
const MAX_DESCRIPTOR_BYTES = 64 * 1024;

export function parseDescriptor(text: string): Descriptor | undefined {
  const createType = /^createType\s*=\s*"([^"]*)"/m.exec(text)?.[1];
  if (createType === undefined) return undefined;
  const extents: Extent[] = [];
  for (const match of text.matchAll(/^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)\s+"([^"]+)"(?:\s+(\d+))?/gm)) {
    extents.push({
      access: match[1]!,
      sectors: Number(match[2]),
      type: match[3]!,
      file: match[4]!,
      offset: Number(match[5] ?? 0) * 512,
    });
  }
  return { createType, extents };
}

/** The file (beside the descriptor) whose bytes are the disk's; why not, when the disk is not flat. */
export function flatExtent(
  descriptor: Descriptor,
  capacity: number,
): { readonly file: string; readonly offset: number } | string {
  const [extent, ...more] = descriptor.extents;
  if (!FLAT_TYPES.has(descriptor.createType)) return `a ${descriptor.createType} vmdk`;
  if (extent === undefined || more.length > 0) return `a vmdk of ${descriptor.extents.length} extents`;
  if (!FLAT_EXTENTS.has(extent.type)) return `a vmdk whose extent is ${extent.type}`;
  if (extent.sectors * 512 < capacity)
    return `a vmdk whose extent holds ${extent.sectors * 512} bytes, less than the disk's ${capacity}`;
  if (extent.file.includes('/')) return `a vmdk whose extent is in another directory (${extent.file})`;
  if (extent.offset !== 0) return `a vmdk whose extent starts at byte ${extent.offset} of its file`;
  return { file: extent.file, offset: 0 };
}

// A small file of the datastore (a descriptor), read with the session's cookie over the pinned agent.
export function fetchDatastoreText(client: VimClient, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      url,
      { agent: client.agent, headers: { Cookie: `${SESSION_COOKIE}=${client.sessionCookie ?? ''}` } },
      (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          reject(new SendenseError(`the datastore answered HTTP ${response.statusCode} for ${new URL(url).pathname}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_DESCRIPTOR_BYTES)
            return response.destroy(
              new SendenseError(
                `${new URL(url).pathname} is larger than a vmdk descriptor (over ${MAX_DESCRIPTOR_BYTES} bytes)`,
              ),
            );
          chunks.push(chunk);
        });
        response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        response.on('error', reject);
      },
    );
    request.on('error', (error) =>
      reject(
        error instanceof SendenseError
          ? error
          : new SendenseError(`cannot read ${new URL(url).pathname} from the datastore: ${error.message}`),
      ),
    );
  });
}
