// The bytes a libguestfs call writes into a file (download, tar_out) read here as they come,
// through a FIFO: nothing of the guest's is written on the hub before the host has looked at it.

import { execFileSync } from 'node:child_process';
import { closeSync, constants, createReadStream, openSync, rmSync } from 'node:fs';
import path from 'node:path';
import { childEnv } from '../process/child-env.js';

// Runs `write(fifo)` (the appliance writing) and `read(bytes)` together; the writer's error wins.
export async function readFromAppliance<T>(
  dir: string,
  write: (fifo: string) => Promise<unknown>,
  read: (bytes: AsyncIterable<Buffer>) => Promise<T>,
): Promise<T> {
  const fifo = path.join(dir, `stream-${process.pid}-${Date.now()}.fifo`);
  execFileSync('mkfifo', ['-m', '600', fifo], { env: childEnv() });
  try {
    const input = createReadStream(fifo);
    let opened = false;
    input.once('open', () => (opened = true));
    const writing = write(fifo).then(
      () => undefined,
      async (error: unknown) => {
        // The reader may still wait in open(): a writer that opens and closes gives it its EOF.
        for (let i = 0; i < 100 && !opened && !input.closed; i++) {
          try {
            closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
            break;
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
        return error;
      },
    );
    const reading = read(input).then(
      (value) => ({ value }),
      (error: unknown) => {
        // The appliance's next write fails (EPIPE) instead of waiting for a reader forever.
        input.destroy();
        return { error };
      },
    );
    const [writeError, result] = await Promise.all([writing, reading]);
    if (writeError !== undefined) throw writeError;
    if ('error' in result) throw result.error;
    return result.value;
  } finally {
    rmSync(fifo, { force: true });
  }
}
