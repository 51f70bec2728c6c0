// VMware's changed block tracking, FAKED for the tests: a TLS proxy in front of vcsim (which has no
// QueryChangedDiskAreas in any version). It passes every call through, except that it:
// - keeps a copy of each disk's flat file the first time it sees a snapshot's configuration (the
//   disk as it was at that snapshot: the tests change the files only between runs), and gives the
//   disks of snapshots and VMs a change id "<epoch>/<sequence>" (vcsim gives none);
// - answers QueryChangedDiskAreas itself: "*" = the 64 KiB blocks of the snapshot's copy that hold
//   data, "<epoch>/<n>" = the blocks where the copy of snapshot n and this one differ, one page of
//   at most `pageBytes` of the disk per answer; a change id of another epoch (resetCbt) or one it
//   never gave is refused as vSphere does (InvalidArgument changeId);
// - on demand (rejectChangeIds), refuses the change ids it gave a disk so far with a FileFault, as
//   vSphere does after a CBT reset that the disk's change id does not show (a disk restored from
//   elsewhere, a ctk file lost): the disk's change ids look as before, only the query fails.
// - on demand (failIncrementalQueries), answers every QueryChangedDiskAreas that is not "*" with a
//   fault that says nothing of the change id (a lost session, a server error, a deviceKey refused)
//   or cuts the connection, as a vSphere in trouble does.
// - on demand (deltaDisks), shows the disks of snapshot configurations as deltas of the base disk,
//   as vSphere lays out a snapshot taken while the VM carries another (vcsim does not);
// - on demand (datastoreDown), answers the datastore's file access (/folder) with HTTP 503: every
//   file, or only the disks' data files, as a datastore out of reach does.
// - on demand (cutFiles), cuts the datastore's file access: every download under way is broken off
//   and new ones refused, while the API goes on answering (a host whose datastore went away).
// - on demand (holdSnapshots), answers CreateSnapshot_Task with a task still running that makes the
//   snapshot only when released, as vSphere's tasks run on after their call (held-snapshot-tasks.ts).
// It serves with the simulator's own certificate and key, so the client pins one fingerprint.

import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DOMParser, XMLSerializer, type Element } from '@xmldom/xmldom';
import { HeldSnapshotTasks } from './held-snapshot-tasks.js';
import type { VcsimDisk } from './vcsim.js';

const BLOCK = 64 * 1024;
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

export interface CbtProxy {
  readonly endpoint: string;
  /** Bytes of the disk one QueryChangedDiskAreas answer covers at most (default: the whole disk). */
  pageBytes: number | undefined;
  /** QueryChangedDiskAreas calls answered, and every method seen. */
  readonly calls: Map<string, number>;
  /** A new CBT epoch for the disk: every change id given before is refused from now on. */
  resetCbt(key: number): void;
  /** Every change id given the disk so far is refused at query time (a FileFault, or InvalidArgument changeId), its epoch unchanged. */
  rejectChangeIds(key: number, how?: 'FileFault' | 'InvalidArgument'): void;
  /** QueryChangedDiskAreas other than "*" answered with this trouble (undefined: answered as usual). */
  failIncrementalQueries: QueryTrouble | undefined;
  /** The datastore's file access answered HTTP 503: 'all' files, or only the 'data' (-flat.vmdk) files. */
  datastoreDown: 'all' | 'data' | undefined;
  /**
   * Snapshot configurations show delta disks (a -000001.vmdk whose parent is the base disk), as vSphere
   * does at a snapshot taken while the VM carries another (vcsim keeps the flat disk).
   */
  deltaDisks: boolean;
  /** Bytes of the disks' data files (-flat.vmdk) served so far over the datastore's file access. */
  readonly dataBytes: number;
  /** The `quiesce` of every CreateSnapshot_Task seen, in order. */
  readonly quiesced: boolean[];
  /** true: the datastore's files go away (downloads under way broken off, new ones refused); false: back. */
  cutFiles(cut: boolean): void;
  /** From now on, snapshots are made in tasks that run until released. */
  holdSnapshots(): HeldSnapshotTasks;
  close(): Promise<void>;
}

/** A QueryChangedDiskAreas failure that is no verdict on the change id. */
export type QueryTrouble = 'NotAuthenticated' | 'SystemError' | 'InvalidArgument-deviceKey' | 'connection-reset';

export async function startCbtProxy(
  upstream: string,
  cert: string,
  key: string,
  disks: readonly VcsimDisk[],
): Promise<CbtProxy> {
  const { readFileSync } = await import('node:fs');
  const work = mkdtempSync(path.join(tmpdir(), 'cbt-proxy-'));
  const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  const epochs = new Map(disks.map((disk) => [disk.key, newEpoch()]));
  const snapshots = new Map<string, number>();
  // disk key -> the last sequence whose change ids vSphere no longer accepts
  const rejectedUpTo = new Map<number, { upTo: number; how: 'FileFault' | 'InvalidArgument' }>();
  const quiesced: boolean[] = [];
  let sequence = 0;
  const calls = new Map<string, number>();
  const state = {
    pageBytes: undefined as number | undefined,
    trouble: undefined as QueryTrouble | undefined,
    datastoreDown: undefined as 'all' | 'data' | undefined,
    deltaDisks: false,
    dataBytes: 0,
    filesCut: false,
    snapshotTasks: undefined as HeldSnapshotTasks | undefined,
  };
  // Downloads under way (not API calls): what cutFiles breaks off.
  const downloads = new Set<{ destroy(): void }>();

  const copyOf = (diskKey: number, seq: number) => path.join(work, `${diskKey}-${seq}`);
  const seqOf = (snapshot: string): number => {
    let seq = snapshots.get(snapshot);
    if (seq === undefined) {
      seq = ++sequence;
      snapshots.set(snapshot, seq);
      for (const disk of disks) execFileSync('cp', ['--sparse=always', disk.flat, copyOf(disk.key, seq)]);
    }
    return seq;
  };

  const answerQuery = (body: string): { status: number; xml: string } => {
    const doc = new DOMParser().parseFromString(body, 'text/xml');
    const text = (name: string) => doc.getElementsByTagNameNS('*', name)[0]?.textContent ?? '';
    const diskKey = Number(text('deviceKey'));
    const start = Number(text('startOffset'));
    const changeId = text('changeId');
    const disk = disks.find((each) => each.key === diskKey);
    if (disk === undefined)
      return fault('InvalidArgument', 'deviceKey', 'A specified parameter was not correct: deviceKey');
    const seq = seqOf(text('snapshot'));
    let blocks: number[];
    // The disk's size at the snapshot: its copy's (a disk grown between snapshots has a longer file).
    const capacity = statSync(copyOf(diskKey, seq)).size;
    if (changeId === '*') blocks = dataBlocks(copyOf(diskKey, seq), capacity);
    else {
      const [epoch, from] = changeId.split('/');
      const n = Number(from);
      if (epoch !== epochs.get(diskKey) || !Number.isInteger(n) || n < 1 || n > seq)
        return fault('InvalidArgument', 'changeId', 'A specified parameter was not correct: changeId');
      const rejected = rejectedUpTo.get(diskKey);
      if (rejected !== undefined && n <= rejected.upTo) {
        if (rejected.how === 'InvalidArgument')
          return fault('InvalidArgument', 'changeId', 'A specified parameter was not correct: changeId');
        const ctk = `/vmfs/volumes/LocalDS_0/vmw/vmw_${diskKey}-ctk.vmdk`;
        return fault('FileFault', ctk, `Error caused by file ${ctk}`);
      }
      blocks = differentBlocks(copyOf(diskKey, n), copyOf(diskKey, seq), capacity);
    }
    const end = Math.min(capacity, start + (state.pageBytes ?? capacity));
    const areas: string[] = [];
    for (const block of blocks) {
      const from = Math.max(block * BLOCK, start);
      const to = Math.min((block + 1) * BLOCK, end, capacity);
      if (to > from) areas.push(`<changedArea><start>${from}</start><length>${to - from}</length></changedArea>`);
    }
    return {
      status: 200,
      xml: envelope(
        `<QueryChangedDiskAreasResponse xmlns="urn:vim25"><returnval><startOffset>${start}</startOffset><length>${end - start}</length>${areas.join('')}</returnval></QueryChangedDiskAreasResponse>`,
      ),
    };
  };

  // Change ids into the disks of snapshot and VM configurations (vcsim gives none).
  const withChangeIds = (xml: string): string => {
    if (!xml.includes('VirtualDisk')) return xml;
    const doc = new DOMParser().parseFromString(xml, 'text/xml');
    let changed = false;
    for (const objects of Array.from(doc.getElementsByTagNameNS('*', 'objects')) as Element[]) {
      const obj = Array.from(objects.childNodes).find((node) => (node as Element).localName === 'obj') as
        Element | undefined;
      if (obj === undefined) continue;
      const type = obj.getAttribute('type');
      if (type !== 'VirtualMachineSnapshot' && type !== 'VirtualMachine') continue;
      const seq = type === 'VirtualMachineSnapshot' ? seqOf(obj.textContent ?? '') : sequence;
      for (const device of Array.from(objects.getElementsByTagNameNS('*', '*')) as Element[]) {
        if ((device.getAttributeNS(XSI, 'type') ?? '').replace(/^.*:/, '') !== 'VirtualDisk') continue;
        const key = Number(
          Array.from(device.childNodes).find((node) => (node as Element).localName === 'key')?.textContent,
        );
        const backing = Array.from(device.childNodes).find((node) => (node as Element).localName === 'backing') as
          Element | undefined;
        if (backing === undefined || !epochs.has(key)) continue;
        const id = doc.createElementNS(backing.namespaceURI, 'changeId');
        id.appendChild(doc.createTextNode(`${epochs.get(key)}/${seq}`));
        backing.appendChild(id);
        if (type === 'VirtualMachineSnapshot' && state.deltaDisks) {
          // As vSphere lays out a VM with an earlier snapshot: ours froze a delta whose parent is the base disk.
          const name = Array.from(backing.childNodes).find((node) => (node as Element).localName === 'fileName') as
            Element | undefined;
          const base = name?.textContent ?? '';
          if (name !== undefined) name.textContent = base.replace(/\.vmdk$/, '-000001.vmdk');
          const parent = doc.createElementNS(backing.namespaceURI, 'parent');
          parent.setAttributeNS(XSI, 'xsi:type', 'VirtualDiskFlatVer2BackingInfo');
          const parentName = doc.createElementNS(backing.namespaceURI, 'fileName');
          parentName.appendChild(doc.createTextNode(base));
          parent.appendChild(parentName);
          backing.appendChild(parent);
        }
        changed = true;
      }
    }
    return changed ? new XMLSerializer().serializeToString(doc) : xml;
  };

  const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      let body = Buffer.concat(chunks);
      const method = request.url?.startsWith('/sdk') ? /<soapenv:Body>\s*<(\w+)/.exec(body.toString())?.[1] : undefined;
      if (method !== undefined) calls.set(method, (calls.get(method) ?? 0) + 1);
      if (method !== undefined && state.snapshotTasks !== undefined) {
        const held = state.snapshotTasks.answer(method, body.toString(), soapHeaders(request.headers));
        if (held !== undefined) {
          response.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8' }).end(held);
          return;
        }
        body = Buffer.from(state.snapshotTasks.rewrite(body.toString()));
      }
      if (
        request.url?.startsWith('/folder/') &&
        (state.datastoreDown === 'all' || (state.datastoreDown === 'data' && /-flat\.vmdk\?/.test(request.url)))
      ) {
        response.writeHead(503, { 'Content-Type': 'text/plain' }).end('datastore unreachable');
        return;
      }
      if (method === 'CreateSnapshot_Task') quiesced.push(/<quiesce>true<\/quiesce>/.test(body.toString()));
      if (method === 'QueryChangedDiskAreas') {
        const incremental = !/<changeId>\*<\/changeId>/.test(body.toString());
        if (incremental && state.trouble === 'connection-reset') {
          request.socket.destroy();
          return;
        }
        const { status, xml } =
          incremental && state.trouble !== undefined && state.trouble !== 'connection-reset'
            ? troubleAnswer(state.trouble)
            : answerQuery(body.toString());
        response.writeHead(status, { 'Content-Type': 'text/xml; charset=utf-8' }).end(xml);
        return;
      }
      if (method === undefined && state.filesCut) {
        response.destroy();
        return;
      }
      // A SOAP call's body may have been rewritten (held snapshot tasks): its length as sent.
      const headers = {
        ...request.headers,
        host: upstream,
        ...(method === undefined ? {} : { 'content-length': String(body.length) }),
      };
      const forwarded = https.request(
        {
          host: '127.0.0.1',
          port: Number(upstream.split(':')[1]),
          path: request.url,
          method: request.method,
          headers,
          agent,
        },
        (answer) => {
          if (method === undefined) {
            const download = { destroy: () => (answer.destroy(), response.destroy()) };
            downloads.add(download);
            response.on('close', () => downloads.delete(download));
            response.writeHead(answer.statusCode ?? 502, answer.headers);
            // Bytes of the disks' data files served (what the reader read).
            if (/-flat\.vmdk\?/.test(request.url ?? ''))
              answer.on('data', (chunk: Buffer) => (state.dataBytes += chunk.length));
            answer.pipe(response);
            return;
          }
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => {
            const answered = withChangeIds(Buffer.concat(parts).toString());
            const xml =
              state.snapshotTasks !== undefined && body.includes('<pathSet>recentTask</pathSet>')
                ? state.snapshotTasks.withHeldRecent(answered)
                : answered;
            const { 'content-length': _length, 'transfer-encoding': _encoding, ...rest } = answer.headers;
            response
              .writeHead(answer.statusCode ?? 502, { ...rest, 'content-length': Buffer.byteLength(xml) })
              .end(xml);
          });
        },
      );
      forwarded.on('error', () => response.destroy());
      forwarded.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: CbtProxy = {
    endpoint: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    get pageBytes() {
      return state.pageBytes;
    },
    set pageBytes(value) {
      state.pageBytes = value;
    },
    calls,
    get failIncrementalQueries() {
      return state.trouble;
    },
    set failIncrementalQueries(value) {
      state.trouble = value;
    },
    get datastoreDown() {
      return state.datastoreDown;
    },
    set datastoreDown(value) {
      state.datastoreDown = value;
    },
    get deltaDisks() {
      return state.deltaDisks;
    },
    set deltaDisks(value) {
      state.deltaDisks = value;
    },
    get dataBytes() {
      return state.dataBytes;
    },
    quiesced,
    resetCbt: (diskKey) => void epochs.set(diskKey, newEpoch()),
    rejectChangeIds: (diskKey, how = 'FileFault') => void rejectedUpTo.set(diskKey, { upTo: sequence, how }),
    holdSnapshots() {
      state.snapshotTasks = new HeldSnapshotTasks(
        (headers, body) =>
          new Promise((resolve, reject) => {
            const call = https.request(
              {
                host: '127.0.0.1',
                port: Number(upstream.split(':')[1]),
                path: '/sdk',
                method: 'POST',
                headers: { ...headers, host: upstream, 'content-length': String(Buffer.byteLength(body)) },
                agent,
              },
              (answer) => {
                const parts: Buffer[] = [];
                answer.on('data', (chunk: Buffer) => parts.push(chunk));
                answer.on('end', () => resolve(Buffer.concat(parts).toString()));
              },
            );
            call.on('error', reject);
            call.end(body);
          }),
      );
      return state.snapshotTasks;
    },
    cutFiles(cut) {
      state.filesCut = cut;
      if (cut) for (const download of downloads) download.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => {
          rmSync(work, { recursive: true, force: true });
          resolve();
        });
      }),
  };
  return proxy;
}

// What a held call needs to be made later as its caller made it: its session cookie and SOAP headers.
function soapHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of ['cookie', 'content-type', 'soapaction'])
    if (typeof headers[name] === 'string') kept[name] = headers[name];
  return kept;
}

function newEpoch(): string {
  return Array.from({ length: 16 }, () =>
    Math.floor(Math.random() * 256)
      .toString(16)
      .padStart(2, '0'),
  ).join(' ');
}

function envelope(body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="${XSI}"><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;
}

// What vSphere answers in trouble that is not the change id's (vim25 faults NotAuthenticated, SystemError, InvalidArgument).
function troubleAnswer(trouble: Exclude<QueryTrouble, 'connection-reset'>): { status: number; xml: string } {
  if (trouble === 'NotAuthenticated') return fault(trouble, 'System.View', 'The session is not authenticated.');
  if (trouble === 'SystemError')
    return fault(trouble, 'vim.fault.HostCommunication', 'A general system error occurred: ');
  return fault('InvalidArgument', 'deviceKey', 'A specified parameter was not correct: deviceKey');
}

function fault(type: string, property: string, message: string): { status: number; xml: string } {
  const detail =
    type === 'FileFault'
      ? `<file>${property}</file>`
      : type === 'NotAuthenticated'
        ? `<privilegeId>${property}</privilegeId>`
        : type === 'SystemError'
          ? `<reason>${property}</reason>`
          : `<invalidProperty>${property}</invalidProperty>`;
  return {
    status: 500,
    xml: envelope(
      `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>${message}</faultstring><detail><${type}Fault xmlns="urn:vim25" xsi:type="${type}">${detail}</${type}Fault></detail></soapenv:Fault>`,
    ),
  };
}

// Blocks of a file that hold anything but zeroes, within `capacity`.
function dataBlocks(file: string, capacity: number): number[] {
  const found: number[] = [];
  eachBlock([file], capacity, (block, [data]) => {
    if (data!.some((byte) => byte !== 0)) found.push(block);
  });
  return found;
}

function differentBlocks(before: string, after: string, capacity: number): number[] {
  const found: number[] = [];
  eachBlock([before, after], capacity, (block, [a, b]) => {
    if (!a!.equals(b!)) found.push(block);
  });
  return found;
}

function eachBlock(files: readonly string[], capacity: number, visit: (block: number, data: Buffer[]) => void): void {
  const fds = files.map((file) => openSync(file, 'r'));
  try {
    const sizes = files.map((file) => statSync(file).size);
    for (let block = 0; block * BLOCK < capacity; block++) {
      const length = Math.min(BLOCK, capacity - block * BLOCK);
      const data = fds.map((fd, index) => {
        const buffer = Buffer.alloc(length);
        if (block * BLOCK < sizes[index]!) readSync(fd, buffer, 0, length, block * BLOCK);
        return buffer;
      });
      visit(block, data);
    }
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}
