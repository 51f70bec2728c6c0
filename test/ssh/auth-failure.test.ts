// A node that refuses the plan's key is a user mistake: exit 1 and one line saying
// authentication failed, never the "internal error (a bug)" stack.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';
import { leasedPorts } from '../support/process-tree.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile } from '../support/vm-disks.js';
import { nodeBlock, useSshWorkspace, writeSshBackupPlan } from './ssh-node.js';

const ws = useSshWorkspace('ssh-auth-');

it('a key the node does not accept: exit 1, one line, no stack', async () => {
  const { node, dir, db, repository } = ws;
  const otherKey = path.join(dir, 'other_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
  const disks = [{ key: 2000, path: createDisk(path.join(dir, 'disk0.qcow2'), 16 * 1024 * 1024) }];
  const plan = writeSshBackupPlan(dir, {
    name: 'wrong-key',
    vm: 'authvm',
    disks,
    repository,
    ports: portRangeForTestFile(),
    node: { ...nodeBlock(node), identityFile: otherKey },
  });

  const result = await sendenseRun([plan, '--db', db], { SSH_AUTH_SOCK: '' });
  expect(result.exitCode, result.stderr).toBe(1);
  expect(result.stderr).toContain('authentication failed');
  expect(result.stderr).not.toContain('internal error');
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(leasedPorts(db)).toEqual([]);
});
