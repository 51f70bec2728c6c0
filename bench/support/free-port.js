// TCP ports on 127.0.0.1: one nobody listens on, and waiting until somebody does.
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Polls with connects (about 5 s at the most): a server that never listens is a failed bench.
export async function waitForPort(port) {
  for (let tries = 0; tries < 250; tries++) {
    const ok = await new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => (socket.destroy(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(20);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}
