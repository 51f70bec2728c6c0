// What the API's archives hold for names a plain archive cannot: a guest name that is not UTF-8 or
// holds a backslash in a ZIP (unzip gives it back with %XX), and long names, long symlink targets
// and large ids in a tar.zst (GNU tar reads them back exactly). No appliance: the sinks are fed
// the entries the appliance's folder would give.

import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, readlinkSync, lstatSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ArchiveEntry, ArchiveEvent } from '../../../src/api/files/archive-entries.js';
import { tarZstSink } from '../../../src/api/files/tar-zst-sink.js';
import { zipSink } from '../../../src/api/files/zip-sink.js';
import { useRunWorkspace } from '../../support/run-workspace.js';

const ws = useRunWorkspace('api-archive-');
const T = Date.UTC(2023, 5, 6, 7, 8, 10) / 1000;

function entry(name: Buffer | string, type: ArchiveEntry['type'], extra: Partial<ArchiveEntry> = {}): ArchiveEntry {
  return {
    name: Buffer.from(name),
    type,
    mode: type === 'directory' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: T,
    link: Buffer.alloc(0),
    ...extra,
  };
}

async function* events(list: readonly (ArchiveEntry | Buffer)[]): AsyncGenerator<ArchiveEvent> {
  for (const item of list) yield Buffer.isBuffer(item) ? { kind: 'data', chunk: item } : { kind: 'entry', entry: item };
}

describe('archive formats', () => {
  it('a ZIP names a non-UTF-8 or backslashed guest name with %XX and keeps a symlink as a link', async () => {
    const zip = path.join(ws.dir, 'a.zip');
    const sink = zipSink(createWriteStream(zip), { prefix: 'data' });
    await sink.write(
      events([
        entry('', 'directory'),
        entry(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]), 'file', { size: 3 }),
        Buffer.from('caf'),
        entry('back\\slash', 'file', { size: 2 }),
        Buffer.from('bs'),
        entry('link', 'symlink', { link: Buffer.from('../../etc/passwd') }),
      ]),
    );
    await sink.end();
    const out = path.join(ws.dir, 'unzipped');
    execFileSync('unzip', ['-q', zip, '-d', out]);
    expect(readdirSync(path.join(out, 'data')).sort()).toEqual(['back%5Cslash', 'caf%E9.txt', 'link']);
    expect(readFileSync(path.join(out, 'data', 'caf%E9.txt'), 'utf8')).toBe('caf');
    expect(lstatSync(path.join(out, 'data', 'link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path.join(out, 'data', 'link'))).toBe('../../etc/passwd');
  });

  it('a tar.zst keeps long names, long link targets, large ids and hard links exactly', async () => {
    const long = `${'deep/'.repeat(40)}name-${'x'.repeat(150)}`;
    const target = `/${'t'.repeat(300)}`;
    const tarZst = path.join(ws.dir, 'a.tar.zst');
    const sink = tarZstSink(createWriteStream(tarZst), { prefix: 'home/alice' });
    const folders = long
      .split('/')
      .slice(0, -1)
      .map((_, i, parts) => entry(parts.slice(0, i + 1).join('/'), 'directory'));
    await sink.write(
      events([
        entry('', 'directory'),
        ...folders,
        entry(long, 'file', { size: 5, uid: 3_000_000, gid: 3_000_001 }),
        Buffer.from('hello'),
        entry('hard', 'hardlink', { link: Buffer.from(long) }),
        entry('sym', 'symlink', { link: Buffer.from(target) }),
      ]),
    );
    await sink.end();
    const out = path.join(ws.dir, 'untarred');
    mkdirSync(out);
    execFileSync('tar', ['--zstd', '-x', '--numeric-owner', '-f', tarZst, '-C', out]);
    const file = path.join(out, 'home/alice', long);
    expect(readFileSync(file, 'utf8')).toBe('hello');
    expect([lstatSync(file).uid, lstatSync(file).gid, lstatSync(file).mtimeMs / 1000]).toEqual([
      3_000_000,
      3_000_001,
      T,
    ]);
    expect(lstatSync(path.join(out, 'home/alice/hard')).ino).toBe(lstatSync(file).ino);
    expect(readlinkSync(path.join(out, 'home/alice/sym'))).toBe(target);
  });
});
