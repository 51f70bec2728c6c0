// A link to a node cut after sshd's greeting but before the connection is ready (its session killed,
// a firewall, sshd restarting): the connect fails at once in one line naming the node, where it
// used to wait for ever. ssh2 reports a close before the greeting as an error, but one after it only
// as 'close', and stops its own ready timeout. Found by the fault campaign: a copy hung 10 minutes
// in open-copy after the fault killed its SSH session. A real sshd, behind a relay on 127.0.0.1
// that passes its greeting and then cuts both sides.

import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openSshConnection } from '../../src/node/ssh-connect.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

let sshd: TestSshd;
let relay: Server;
const sockets = new Set<Socket>();
beforeAll(async () => {
  sshd = await startSshd();
  // Each client is joined to sshd until sshd's first bytes (its greeting) have been passed on.
  relay = createServer((client) => {
    const server = connect({ host: sshd.host, port: sshd.port });
    for (const socket of [client, server]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => sockets.delete(socket));
    }
    client.pipe(server);
    server.once('data', (greeting) => {
      client.end(greeting);
      server.destroy();
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => relay?.close(resolve));
  await sshd?.stop();
});

it('a link cut after the greeting, before the connection is ready, fails in one line', async () => {
  const address = relay.address();
  if (address === null || typeof address === 'string') throw new Error('the relay has no port');
  const node = { host: '127.0.0.1', port: address.port, user: sshd.user, identityFile: sshd.identityFile };
  // known_hosts does not matter: the link is cut before any host key is offered.
  await expect(openSshConnection({ ...node, knownHosts: sshd.knownHosts }, { agent: false })).rejects.toThrow(
    `${sshd.user}@127.0.0.1:${address.port}: the node closed the connection before the SSH handshake was done (is sshd refusing connections?)`,
  );
  // The same sshd without the relay is reached.
  const direct = await openSshConnection(
    { host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.identityFile, knownHosts: sshd.knownHosts },
    { agent: false },
  );
  direct.client.end();
  direct.socket.destroy();
}, 120_000);
