// Who libvirt's QEMU runs as on a node (the DAC base labels of `virsh capabilities`, from
// qemu.conf's user and group), and letting that user, and no other, open a Unix socket of ours:
// a recovered domain reads its served point there (docs/instant-recovery.md#who-can-open-the-served-point).

import { DOMParser } from '@xmldom/xmldom';
import path from 'node:path';
import { SendenseError } from '../errors.js';
import type { NodeExec, Virsh } from './virsh.js';

export interface QemuUser {
  readonly uid: number;
  readonly gid: number;
}

// Every user a domain of this libvirt may run as (one per virtualization type, usually the same); none when it runs as root.
export async function qemuUsers(virsh: Virsh): Promise<QemuUser[]> {
  const xml = await virsh.run(['capabilities'], 'cannot read the hypervisor capabilities');
  const document = new DOMParser().parseFromString(xml, 'text/xml');
  const users = new Map<number, QemuUser>();
  for (const model of Array.from(document.getElementsByTagName('secmodel'))) {
    if (model.getElementsByTagName('model')[0]?.textContent?.trim() !== 'dac') continue;
    for (const label of Array.from(model.getElementsByTagName('baselabel'))) {
      const match = /^\+?(\d+):\+?(\d+)$/.exec(label.textContent?.trim() ?? '');
      if (match && Number(match[1]) !== 0)
        users.set(Number(match[1]), { uid: Number(match[1]), gid: Number(match[2]) });
    }
  }
  return [...users.values()];
}

// An ACL entry for each user on the socket (read, write) and its private directory (search only):
// its owner, root and those users open it, nobody else. Checked as each user, so a file system
// without ACLs fails here, before the domain would.
export async function letQemuOpen(
  exec: NodeExec,
  socket: string,
  users: readonly QemuUser[],
  where: string,
): Promise<void> {
  const dir = path.posix.dirname(socket);
  for (const { uid, gid } of users) {
    for (const [file, access] of [
      [dir, 'x'],
      [socket, 'rw'],
    ] as const) {
      const granted = await exec(['setfacl', '-m', `u:${uid}:${access}`, '--', file]);
      if (granted.exitCode === 127)
        throw new SendenseError(
          `setfacl not found on ${where} (install the acl package): the recovered domain's QEMU (uid ${uid}) must be let into ${dir}`,
        );
      if (granted.exitCode !== 0)
        throw new SendenseError(
          `cannot let the recovered domain's QEMU (uid ${uid}) open ${file} on ${where}: ${granted.stderr.trim() || `setfacl exited ${granted.exitCode}`}`,
        );
    }
    const check = await exec([
      'setpriv',
      `--reuid=${uid}`,
      `--regid=${gid}`,
      '--clear-groups',
      '--',
      'test',
      '-w',
      socket,
    ]);
    if (check.exitCode !== 0 && check.exitCode !== 127)
      throw new SendenseError(
        `the recovered domain's QEMU (uid ${uid}) still cannot open ${socket} on ${where} (does its file system keep ACLs?)`,
      );
  }
}
