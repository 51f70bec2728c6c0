// While the copy runs, the new backup files are written to disk behind it: the hub's qemu-nbd
// writes them through the page cache (start-qemu-nbd), and without this the kernel would start
// writing only at its dirty limit or at the final sync, after the copy. One fdatasync per file
// at a time, one file after another; record-change-ids still syncs each file after its server
// stops (docs/how-it-works.md#the-data-path).

import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

const EVERY_MS = 500;

export interface WriteBehind {
  /** Waits for the sync under way, if any; later syncs are not started. */
  stop(): Promise<void>;
}

export function writeBehind(files: readonly string[]): WriteBehind {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> = Promise.resolve();
  const handles = new Map<string, FileHandle>();

  // A file not there yet (a later turn's) or one that fails is left to the final sync.
  const syncOnce = async (): Promise<void> => {
    for (const file of files) {
      if (stopped) return;
      try {
        let handle = handles.get(file);
        if (handle === undefined) {
          handle = await open(file, constants.O_RDONLY);
          handles.set(file, handle);
        }
        await handle.datasync();
      } catch {
        // the final sync reports what is wrong
      }
    }
  };
  const schedule = () => {
    timer = setTimeout(() => {
      pass = syncOnce().finally(() => {
        if (!stopped) schedule();
      });
    }, EVERY_MS);
    timer.unref();
  };
  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await pass;
      await Promise.all([...handles.values()].map((handle) => handle.close().catch(() => undefined)));
      handles.clear();
    },
  };
}
