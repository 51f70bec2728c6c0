// Who a fast-path reader runs as when we are root (docs/file-level-restore.md#the-fast-path): a uid
// and gid of its own for each opened point, picked at random in a range no account, group or
// process uses, so no other local user (not even `nobody`, which other daemons run as) can reach the
// point's private directory, its socket or its FUSE file while a listing runs; only root could
// become that uid.

import { randomInt } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';

/** 0x70000000…: above systemd's container ranges, below its foreign range and 2^31. */
const FIRST_ID = 0x7000_0000;
const ID_COUNT = 0x0100_0000;
const TRIES = 20;

export interface ReaderUser {
  readonly uid: number;
  readonly gid: number;
}

/** A fresh uid (= gid) for one point's readers; undefined when we are not root (they run as us). */
export async function pickReaderUser(): Promise<ReaderUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const taken = new Set([...(await accountIds('/etc/passwd')), ...(await accountIds('/etc/group'))]);
  for (const id of await processIds()) taken.add(id);
  for (let i = 0; i < TRIES; i++) {
    const id = FIRST_ID + randomInt(ID_COUNT);
    if (!taken.has(id)) return { uid: id, gid: id };
  }
  throw new Error('no free uid for a fast-path reader in 20 tries');
}

// The third field of each line: an account's uid, a group's gid.
async function accountIds(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').map((line) => Number(line.split(':')[2]));
}

// Every uid and gid (real, effective, saved, filesystem) of every process.
async function processIds(): Promise<number[]> {
  const ids: number[] = [];
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    for (const m of status.matchAll(/^(?:Uid|Gid):\s+(.*)$/gm)) ids.push(...m[1].trim().split(/\s+/).map(Number));
  }
  return ids;
}
