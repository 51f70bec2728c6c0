// A reader's output taken as it comes (src/files/fast/sandbox.ts, docs/file-level-restore.md#the-fast-path):
// the bytes of a reader that has already exited when the extraction starts reading are all there.
// CI lost a 13-byte NTFS file this way under load: Node drops the output of an exited child
// that nothing listens to yet.

import { describe, expect, it } from 'vitest';
import { streamSandboxed } from '../../src/files/fast/sandbox.js';

const sandbox = { user: undefined };

async function collect(bytes: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of bytes) parts.push(part);
  return Buffer.concat(parts).toString('utf8');
}

describe('a sandboxed reader streamed to its consumer', () => {
  it('keeps every byte when the consumer starts after the reader has exited', async () => {
    const { value } = await streamSandboxed(
      ['printf', 'thirteen byte'],
      { sandbox, idleMs: 60_000, what: 'printf' },
      async (bytes) => {
        // What the extraction does first (make the file), long enough for printf to be gone.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        return collect(bytes);
      },
    );
    expect(value).toBe('thirteen byte');
  });

  it('streams a large output whole, with the consumer slower than the reader', async () => {
    const { value } = await streamSandboxed(
      ['head', '-c', String(8 * 1024 * 1024), '/dev/zero'],
      { sandbox, idleMs: 60_000, what: 'head' },
      async (bytes) => {
        let total = 0;
        for await (const part of bytes) {
          total += part.length;
          await new Promise((resolve) => setImmediate(resolve));
        }
        return total;
      },
    );
    expect(value).toBe(8 * 1024 * 1024);
  });
});
