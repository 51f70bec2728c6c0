// The SSH copy target's file operations against a real sshd (src/copy/targets/host-files.ts): a file
// is in place under its name only when what landed has the sha256 of what was sent; bytes that
// stop short or differ leave nothing behind; inspect tells a missing path, a file, a directory
// with its marker, and a path inside a repository apart.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CopyTarget } from '../../src/copy/copy-target.js';
import { textBytes, type OutgoingBytes } from '../../src/copy/outgoing-bytes.js';
import { sshCopyTarget } from '../../src/copy/targets/ssh.js';
import type { NodeHost } from '../../src/node/node.js';
import { connectSshNode } from '../../src/node/ssh.js';
import { filesUnder, useCopySshd } from './copy-support.js';

const node = useCopySshd();
let dir = '';
let host: NodeHost;
let target: CopyTarget;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sendense-copy-target-'));
  const spec = {
    host: node.sshd.host,
    port: node.sshd.port,
    user: node.sshd.user,
    identityFile: node.sshd.identityFile,
    knownHosts: node.sshd.knownHosts,
  };
  host = await connectSshNode(spec, { agent: false });
  target = sshCopyTarget(host, spec, path.join(dir, 'copy'));
});
afterAll(async () => {
  await host?.close();
  rmSync(dir, { recursive: true, force: true });
});

// Bytes whose claimed sha256 is not theirs, or that stop short of their size.
function lying(text: string, claimed: string): OutgoingBytes {
  const honest = textBytes(text);
  return {
    size: honest.size,
    [Symbol.asyncIterator]: () => honest[Symbol.asyncIterator](),
    sha256: () => claimed,
    handedOut: honest.handedOut,
  };
}
function failing(size: number): OutgoingBytes {
  return {
    size,
    async *[Symbol.asyncIterator]() {
      yield Buffer.alloc(size / 2, 1);
      throw new Error('the hub could not read on');
    },
    sha256: () => '0'.repeat(64),
    handedOut: Promise.resolve(),
  };
}

describe('the SSH copy target', () => {
  it('puts a file in place (0600, in new 0700 directories) and reads it back, and tells the same bytes from others', async () => {
    expect(await target.inspect()).toEqual({ state: 'missing', inside: undefined });
    await target.put('vm/disk-2000/a.json', textBytes('{"a":1}\n'));
    expect(readFileSync(path.join(dir, 'copy/vm/disk-2000/a.json'), 'utf8')).toBe('{"a":1}\n');
    expect(await target.read('vm/disk-2000/a.json')).toBe('{"a":1}\n');
    expect(await target.read('vm/disk-2000/missing.json')).toBeUndefined();
    writeFileSync(path.join(dir, 'same.json'), '{"a":1}\n');
    writeFileSync(path.join(dir, 'other.json'), '{"a":2}\n');
    expect(await target.sameAs('vm/disk-2000/a.json', path.join(dir, 'same.json'))).toBe(true);
    expect(await target.sameAs('vm/disk-2000/a.json', path.join(dir, 'other.json'))).toBe(false);
    expect(Object.fromEntries(await target.list('vm'))).toEqual({ 'disk-2000/a.json': 8 });
    const mode = (file: string) => statSync(file).mode & 0o777;
    expect(mode(path.join(dir, 'copy/vm/disk-2000/a.json'))).toBe(0o600);
    expect(mode(path.join(dir, 'copy/vm/disk-2000'))).toBe(0o700);
  });

  it('bytes that arrive different, or stop short, leave nothing there', async () => {
    await expect(target.put('vm/disk-2000/b.qcow2', lying('payload', 'f'.repeat(64)))).rejects.toThrow(
      /it arrived different from what was sent/,
    );
    await expect(target.put('vm/disk-2000/c.qcow2', failing(4096))).rejects.toThrow(/could not read on/);
    // The script there sees the bytes stop short and removes its partial file. The put fails once
    // the hub has closed the channel, maybe before the script is done: waited for, but never left.
    await vi.waitFor(() => expect(filesUnder(path.join(dir, 'copy'))).toEqual(['vm/disk-2000/a.json']), {
      timeout: 30_000,
      interval: 100,
    });
  });

  it('inspect: a file, a directory with its entries and marker, a path inside a repository', async () => {
    writeFileSync(path.join(dir, 'plain-file'), 'x');
    const file = sshCopyTarget(
      host,
      { host: 'h', port: 22, user: 'u', knownHosts: '/k' },
      path.join(dir, 'plain-file'),
    );
    expect(await file.inspect()).toEqual({ state: 'not-a-directory' });
    mkdirSync(path.join(dir, 'repository/vm'), { recursive: true });
    writeFileSync(path.join(dir, 'repository/.sendense-repository'), '{"format":"sendense-run repository"}\n');
    const repository = sshCopyTarget(
      host,
      { host: 'h', port: 22, user: 'u', knownHosts: '/k' },
      path.join(dir, 'repository'),
    );
    expect(await repository.inspect()).toEqual({
      state: 'directory',
      entries: ['.sendense-repository', 'vm'],
      inside: undefined,
      marker: '{"format":"sendense-run repository"}\n',
    });
    const inside = sshCopyTarget(
      host,
      { host: 'h', port: 22, user: 'u', knownHosts: '/k' },
      path.join(dir, 'repository/vm/offsite'),
    );
    expect(await inside.inspect()).toEqual({ state: 'missing', inside: path.join(dir, 'repository') });
  });
});
