// writeGuestTree on tar streams made by the host's GNU tar the way libguestfs's tar_out makes
// them (`tar -C DIR -cf - .`): long names, hard links, symlinks, a device node, a setuid file,
// a sparse file, and an entry crafted to leave the folder. No appliance: seconds, not minutes.

import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  ftruncateSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeGuestTree } from '../../src/files/guest-tree-writer.js';
import { tarEvents } from '../../src/files/tar-entries.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'guest-tree-writer-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

// The host's tar of `from` (extra arguments first), written under a new folder by writeGuestTree.
async function extract(
  from: string,
  tarArgs: readonly string[] = [],
  keepSetuid = false,
): Promise<{ to: string; skipped: string[] }> {
  const to = path.join(dir, 'to');
  mkdirSync(to);
  const tar = spawn('tar', [...tarArgs, '--numeric-owner', '-C', from, '-cf', '-', '.'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const skipped: string[] = [];
  await writeGuestTree(to, tarEvents(tar.stdout), {
    keepSetuid,
    owners: process.getuid?.() === 0,
    skipped: (name, why) => skipped.push(`${name.toString('latin1')}: ${why}`),
  });
  return { to, skipped };
}

describe('writeGuestTree', () => {
  it('writes files, long names, hard links and symlinks; skips a device node; clears setuid; keeps a sparse file sparse', async () => {
    const from = path.join(dir, 'from');
    const deep = path.join(from, 'a'.repeat(90), 'b'.repeat(90));
    mkdirSync(deep, { recursive: true });
    writeFileSync(path.join(deep, `${'c'.repeat(120)}.txt`), 'long\n');
    writeFileSync(path.join(from, 'one'), 'linked\n');
    linkSync(path.join(from, 'one'), path.join(from, 'two'));
    symlinkSync('/etc/passwd', path.join(from, 'abs-link'));
    writeFileSync(path.join(from, 'su'), 'x');
    chmodSync(path.join(from, 'su'), 0o4750);
    execFileSync('mknod', [path.join(from, 'disk'), 'b', '254', '0']);
    const sparse = openSync(path.join(from, 'sparse'), 'w');
    ftruncateSync(sparse, 256 * 1024 * 1024);
    writeSync(sparse, 'end', 256 * 1024 * 1024 - 3);
    closeSync(sparse);
    const { to, skipped } = await extract(from);
    expect(readFileSync(path.join(to, 'a'.repeat(90), 'b'.repeat(90), `${'c'.repeat(120)}.txt`), 'utf8')).toBe(
      'long\n',
    );
    expect(statSync(path.join(to, 'two')).ino).toBe(statSync(path.join(to, 'one')).ino);
    expect(lstatSync(path.join(to, 'abs-link')).isSymbolicLink()).toBe(true);
    expect(lstatSync(path.join(to, 'su')).mode & 0o7777).toBe(0o750);
    expect(readdirSync(to)).not.toContain('disk');
    expect(skipped).toEqual(['disk: a block device: device nodes are never created from a backup']);
    const written = statSync(path.join(to, 'sparse'));
    expect(written.size).toBe(256 * 1024 * 1024);
    expect(written.blocks * 512).toBeLessThanOrEqual(64 * 1024);
  });

  it('keeps setuid bits when asked', async () => {
    const from = path.join(dir, 'from');
    mkdirSync(from);
    writeFileSync(path.join(from, 'su'), 'x');
    chmodSync(path.join(from, 'su'), 0o4755);
    const { to } = await extract(from, [], true);
    expect(lstatSync(path.join(to, 'su')).mode & 0o7777).toBe(0o4755);
  });

  it('skips an entry whose name leaves the folder, and a file under a symlink', async () => {
    const from = path.join(dir, 'from');
    mkdirSync(path.join(from, 'sub'), { recursive: true });
    writeFileSync(path.join(from, 'sub', 'evil'), 'x');
    symlinkSync(dir, path.join(from, 'link'));
    writeFileSync(path.join(from, 'ok'), 'fine');
    // -P keeps '..' in names; the transforms make ./sub/evil '../escaped' and './ok' 'link/ok'.
    const { to, skipped } = await extract(from, [
      '-P',
      '--transform=s,^\\./sub/evil$,../escaped,',
      '--transform=s,^\\./ok$,./link/ok,',
    ]);
    expect(readdirSync(dir).sort()).toEqual(['from', 'to']);
    expect(readdirSync(to).sort()).toEqual(['link', 'sub']);
    expect(skipped.sort()).toEqual([
      '../escaped: a path that leaves the folder',
      'link/ok: its folder was not extracted',
    ]);
  });
});
