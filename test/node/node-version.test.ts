// The node's Node.js is checked before the node transfer is put there: one that is too old is
// one error naming the version found and the one needed.

import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isSendenseError } from '../../src/errors.js';
import type { NodeHost } from '../../src/node/node.js';
import { connectSshNode } from '../../src/node/ssh.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

let sshd: TestSshd;
let oldNodeDir: string;
let node: NodeHost | undefined;

beforeAll(async () => {
  oldNodeDir = await mkdtemp(join(tmpdir(), 'sendense-old-node-'));
  await writeFile(join(oldNodeDir, 'node'), '#!/bin/sh\necho v18.20.4\n');
  await chmod(join(oldNodeDir, 'node'), 0o755);
  sshd = await startSshd({ pathFirst: [oldNodeDir] });
}, 30_000);

afterAll(async () => {
  await node?.close();
  await sshd?.stop();
  if (oldNodeDir) await rm(oldNodeDir, { recursive: true, force: true });
});

it('a node with Node.js 18 is refused, naming 18.20.4 and >= 20', async () => {
  node = await connectSshNode(
    { host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.identityFile, knownHosts: sshd.knownHosts },
    { agent: false },
  );
  const error = await node.transferCommand().then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(isSendenseError(error), String(error)).toBe(true);
  expect((error as Error).message).toMatch(
    /^Node\.js 18\.20\.4 on .* is too old: the node transfer needs Node\.js >= 20 \(22 or 24 recommended\)$/,
  );
});
