// Why libvirt's system daemon turned this user away, and the fix: who, which group, the command
// (docs/operations.md#libvirt-access). Root is always let in; anyone else by polkit (group libvirt
// on Debian, over the D-Bus system bus) or by the socket's group.

import { userInfo } from 'node:os';

// The system daemon: qemu:///system, also through a transport (qemu+ssh://host/system).
const SYSTEM_URI = /^[a-z]+(\+[a-z]+)?:\/\/[^/]*\/system(\?|$)/;

// What virsh says to a user who may not connect, by the reason.
const NO_SYSTEM_BUS = /Unable to get system bus connection/i;
const REFUSED =
  /authentication unavailable|authentication failed|not authorized|polkit|libvirt-sock[^:]*': Permission denied/i;

/** A sentence to add to libvirt's own message when it refused a user; '' when that is not the reason. */
export function libvirtAccessHint(uri: string, message: string, local: boolean): string {
  if (!SYSTEM_URI.test(uri) || !(NO_SYSTEM_BUS.test(message) || REFUSED.test(message))) return '';
  if (!local)
    return ` (the node's user, node.user, may not use libvirt there: as root on the node, add it to the libvirt group with \`adduser USER libvirt\`, or log in as root; docs/operations.md#libvirt-access)`;
  const { username, uid } = userInfo();
  if (uid === 0) return '';
  const join = `as root, \`adduser ${username} libvirt\`, then restart sendense-run`;
  if (NO_SYSTEM_BUS.test(message))
    return ` (user ${username} (uid ${uid}) is not root, and libvirt lets other users in through polkit on the D-Bus system bus, which does not run here: ${join}, and either start D-Bus or let the libvirt group in by libvirt's socket (unix_sock_group = "libvirt", unix_sock_rw_perms = "0770", auth_unix_rw = "none" in /etc/libvirt/libvirtd.conf, then restart libvirtd); docs/operations.md#libvirt-access)`;
  return ` (user ${username} (uid ${uid}) may not use libvirt's system daemon: ${join}; docs/operations.md#libvirt-access)`;
}
