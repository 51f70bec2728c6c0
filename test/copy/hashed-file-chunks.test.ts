import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileBytes } from '../../src/copy/outgoing-bytes.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sendense-hashed-chunks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// How many descriptors of this process have `file` open.
function openCount(file: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  }).length;
}

async function sent(bytes: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of bytes) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

describe('a large file sent to a copy (read and hashed on a worker thread)', () => {
  it('hands out exactly its bytes, the backing name patched, with the sha256 of what it handed out', async () => {
    const file = path.join(dir, 'big.qcow2');
    const content = randomBytes(9 * 1024 * 1024 + 123);
    writeFileSync(file, content);
    const patch = { offset: 100, bytes: Buffer.from('B2.qcow2') };
    let progress = 0;
    const bytes = fileBytes(file, content.length, { patch, onProgress: (done) => (progress = done) });
    const got = await sent(bytes);
    const expected = Buffer.from(content);
    patch.bytes.copy(expected, patch.offset);
    expect(got.equals(expected)).toBe(true);
    expect(bytes.sha256()).toBe(createHash('sha256').update(expected).digest('hex'));
    expect(progress).toBe(content.length);
  });

  it('leaves the file closed when the copy stops after a chunk, or the read fails', async () => {
    const file = path.join(dir, 'stopped.qcow2');
    writeFileSync(file, randomBytes(16 * 1024 * 1024));
    // A copy that stops taking chunks (its link lost, say) ends the iteration early.
    for await (const chunk of fileBytes(file, 16 * 1024 * 1024)) {
      expect(chunk.length).toBeGreaterThan(0);
      break;
    }
    expect(openCount(file)).toBe(0);
    const beyond = { offset: 2 * 1024 * 1024, bytes: Buffer.from('x') };
    await expect(sent(fileBytes(file, 16 * 1024 * 1024, { patch: beyond }))).rejects.toThrow(/beyond the first chunk/);
    expect(openCount(file)).toBe(0);
  });

  it('fails when the file cannot be read, naming it', async () => {
    const file = path.join(dir, 'gone.qcow2');
    await expect(sent(fileBytes(file, 64 * 1024 * 1024))).rejects.toThrow(/gone\.qcow2/);
  });
});
