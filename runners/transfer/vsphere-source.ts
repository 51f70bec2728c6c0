// A vsphere: source (runners/README.md): ranged HTTPS GETs of the snapshot's data file, several in
// flight over kept-alive connections to a server whose certificate fingerprint is pinned; the work
// is exactly the read list's areas (no block status: vSphere named them).

import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { SendenseError } from '../../src/errors.js';
import { pinnedAgent } from '../../src/vmware/pinned-agent.js';
import { parseReadList, type ReadList } from '../../src/vmware/read-list.js';
import { VSPHERE_COOKIE_ENV } from '../../src/wire/index.js';
import type { WorkItem } from './work-plan.js';
import { alignedWork, cutToSize } from './work-plan.js';

const READ_TIMEOUT_MS = 120_000;

export class VsphereSource {
  readonly info: { readonly maximumPayload: number };
  private readonly agent: https.Agent;
  private readonly requests = new Set<ReturnType<typeof https.request>>();
  private failure: Error | undefined;

  private constructor(
    readonly list: ReadList,
    private readonly cookie: string,
    private readonly disk: number,
    connections: number,
  ) {
    this.info = { maximumPayload: 32 * 1024 * 1024 };
    this.agent = pinnedAgent(
      { sha256: list.sha256, trustLine: () => 'the plan (the hub checked it moments ago: has the server changed?)' },
      connections,
    );
  }

  static async open(listFile: string, disk: number, connections: number): Promise<VsphereSource> {
    const cookie = process.env[VSPHERE_COOKIE_ENV];
    if (!cookie)
      throw new SendenseError(`a vsphere: source needs the session cookie in ${VSPHERE_COOKIE_ENV}`, { disk });
    const text = await readFile(listFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new SendenseError(`cannot read the read list ${listFile}: ${error.code ?? error.message}`, { disk });
    });
    return new VsphereSource(parseReadList(text, listFile), cookie, disk, connections);
  }

  get size(): number {
    return this.list.size;
  }

  get where(): string {
    return new URL(this.list.url).host;
  }

  /** Bytes the plan touches: the areas, or with `align` every block they touch. */
  async bytesToDo(align: number | undefined): Promise<number> {
    if (align === undefined) return this.list.areas.reduce((sum, [, length]) => sum + length, 0);
    let total = 0;
    for await (const item of this.work(align, align, align)) total += item.length;
    return total;
  }

  /** The areas as copy items cut to the request size (whole aligned blocks with `align`); every byte is written, zeroes as zeroes. */
  async *work(copySize: number, zeroSize: number, align: number | undefined): AsyncGenerator<WorkItem> {
    const ranges = this.list.areas.map(([offset, length]): WorkItem => ({ kind: 'copy', offset, length }));
    if (align !== undefined) return yield* alignedWork(ranges, { align, size: this.size, copySize, zeroSize });
    for (const range of ranges) yield* cutToSize(range, copySize, zeroSize);
  }

  // One ranged GET into `into`; the server must answer 206 with exactly that range.
  read(
    offset: number,
    length: number,
    into: Buffer = Buffer.allocUnsafe(length),
  ): Promise<{ data: Buffer; allHoles: boolean }> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const range = `bytes=${offset}-${offset + length - 1}`;
      const request = https.get(
        this.list.url,
        { agent: this.agent, timeout: READ_TIMEOUT_MS, headers: { Cookie: this.cookie, Range: range } },
        (response) => {
          const status = response.statusCode ?? 0;
          if (
            status !== 206 ||
            !(response.headers['content-range'] ?? '').startsWith(`bytes ${offset}-${offset + length - 1}/`)
          ) {
            response.resume();
            const why =
              status === 206
                ? `Content-Range ${response.headers['content-range']}`
                : `HTTP ${status}${status === 200 ? ' (the whole file: ranges not supported)' : ''}`;
            reject(
              new SendenseError(`the datastore answered ${range} of ${this.where} with ${why}`, { disk: this.disk }),
            );
            return;
          }
          let at = 0;
          response.on('data', (chunk: Buffer) => {
            if (at + chunk.length > length)
              return response.destroy(new SendenseError(`the datastore sent more than ${range}`, { disk: this.disk }));
            chunk.copy(into, at);
            at += chunk.length;
          });
          response.on('end', () => {
            this.requests.delete(request);
            if (at !== length)
              reject(new SendenseError(`the datastore sent ${at} bytes of ${range}`, { disk: this.disk }));
            else resolve({ data: into.subarray(0, length), allHoles: false });
          });
          response.on('error', reject);
        },
      );
      this.requests.add(request);
      request.on('timeout', () =>
        request.destroy(
          new SendenseError(`the datastore did not answer ${range} within ${READ_TIMEOUT_MS / 1000} s`, {
            disk: this.disk,
          }),
        ),
      );
      request.on('error', (error) => {
        this.requests.delete(request);
        reject(
          error instanceof SendenseError
            ? error
            : new SendenseError(`reading ${range} from ${this.where}: ${error.message}`, {
                disk: this.disk,
                cause: error,
              }),
        );
      });
    });
  }

  destroy(error?: Error): void {
    this.failure ??= error ?? new SendenseError('the vsphere: source was closed', { disk: this.disk });
    for (const request of this.requests) request.destroy(this.failure);
    this.agent.destroy();
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
