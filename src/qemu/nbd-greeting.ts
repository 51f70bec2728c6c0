// Readiness probe for an NBD server: connect and read the server's first 8 bytes, "NBDMAGIC"
// (NBD protocol, "Handshake": the newstyle greeting). Closing before negotiating does not count
// as a client for qemu-nbd, so the probe never makes it exit.

import net from 'node:net';

export type NbdAddress = { readonly host: string; readonly port: number } | { readonly socket: string };

export function readNbdGreeting(address: NbdAddress, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const connection = 'socket' in address ? net.connect(address.socket) : net.connect(address.port, address.host);
    let received = Buffer.alloc(0);
    const finish = (ok: boolean) => {
      connection.destroy();
      resolve(ok);
    };
    connection.setTimeout(timeoutMs, () => finish(false));
    connection.on('error', () => finish(false));
    connection.on('close', () => finish(false));
    connection.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 8) finish(received.subarray(0, 8).toString('latin1') === 'NBDMAGIC');
    });
  });
}
