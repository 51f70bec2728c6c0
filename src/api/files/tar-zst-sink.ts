// A tar.zst written as entries come: tar headers made here (./tar-header.ts), compressed by the
// zstd program (Debian package zstd) as they are written; its output handed on with backpressure.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SendenseError } from '../../errors.js';
import { childEnv } from '../../process/child-env.js';
import type { ArchiveEntry, ArchiveEvent } from './archive-entries.js';
import { archivePath, type ArchiveSink } from './archive-sink.js';
import { padding, TAR_END, tarHeader } from './tar-header.js';

const FLAGS: Readonly<Record<ArchiveEntry['type'], '0' | '1' | '2' | '5'>> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  directory: '5',
};

export interface TarZstSinkOptions {
  /** The folder's (or file's) path below its filesystem's root, e.g. "home/alice". */
  readonly prefix: string;
  /** zstd's level (default 3, zstd's own). */
  readonly level?: number;
}

export function tarZstSink(out: Writable, options: TarZstSinkOptions): ArchiveSink {
  const zstd: ChildProcess = spawn('zstd', ['-q', '-c', `-${options.level ?? 3}`], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: childEnv(),
  });
  const stopped = new AbortController();
  let errors = '';
  zstd.stderr!.on('data', (chunk: Buffer) => (errors = (errors + chunk.toString()).slice(-2000)));
  zstd.stdin!.on('error', () => {});
  const exited = new Promise<void>((resolve, reject) => {
    zstd.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new SendenseError(
          error.code === 'ENOENT'
            ? 'zstd is not installed: it is needed to write a tar.zst (Debian package zstd)'
            : `zstd: ${error.message}`,
        ),
      ),
    );
    zstd.once('close', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new SendenseError(`zstd ended (${signal ?? `exit ${code}`})${errors ? `: ${errors.trim()}` : ''}`)),
    );
  });
  const done = Promise.all([pipeline(zstd.stdout!, out), exited]);
  done.catch((error: unknown) => {
    stopped.abort(error);
    zstd.kill('SIGKILL');
  });
  // Bytes of the current file still to come, and its size (its data is padded to a block).
  let left = 0;
  let size = 0;

  const put = async (bytes: Buffer) => {
    stopped.signal.throwIfAborted();
    if (!zstd.stdin!.write(bytes)) await once(zstd.stdin!, 'drain', { signal: stopped.signal });
  };

  return {
    refetch: [],
    async write(events: AsyncIterable<ArchiveEvent>) {
      for await (const event of events) {
        if (event.kind === 'data') {
          left -= event.chunk.length;
          await put(event.chunk);
          continue;
        }
        await endEntry();
        const { entry } = event;
        left = size = entry.type === 'file' ? entry.size : 0;
        const link =
          entry.type === 'hardlink'
            ? archivePath(options.prefix, entry.link)
            : entry.type === 'symlink'
              ? entry.link
              : undefined;
        await put(
          tarHeader({
            ...entry,
            name: archivePath(options.prefix, entry.name),
            flag: FLAGS[entry.type],
            size: left,
            link,
          }),
        );
      }
      await endEntry();
    },
    async end() {
      await put(TAR_END);
      zstd.stdin!.end();
      await done;
    },
    abort(error) {
      stopped.abort(error);
      zstd.kill('SIGKILL');
      out.destroy(error);
    },
  };

  // A file's data padded to a block; one that came short or long (tar_out sends its size) is refused.
  async function endEntry(): Promise<void> {
    if (left !== 0)
      throw new SendenseError(`the appliance gave ${left > 0 ? 'fewer' : 'more'} bytes than a file's size`);
    if (padding(size) > 0) await put(Buffer.alloc(padding(size)));
    size = 0;
  }
}
