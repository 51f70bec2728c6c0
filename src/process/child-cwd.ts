// The directory every program this process starts through execa begins in: ours
// (docs/operations.md#the-service-user-directories-and-unit). execa names it outright
// (process.cwd()), and a child's chdir to that path fails with EACCES when the user we run as
// cannot walk it, e.g. a service user started from a directory inside root's 0700 one: every
// virsh, qemu-img or hook would then fail to start. Then the child goes there through
// /proc/self/cwd, the directory it inherited, without walking the path.

import { accessSync, constants } from 'node:fs';

const INHERITED_CWD = '/proc/self/cwd';

/** The `cwd` option of an execa call: this process's directory, reached however this user can. */
export function childCwd(): string {
  try {
    const cwd = process.cwd();
    accessSync(cwd, constants.X_OK);
    return cwd;
  } catch {
    return INHERITED_CWD;
  }
}
