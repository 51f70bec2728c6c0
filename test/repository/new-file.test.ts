// Files at names anyone who can write their folder can work out (a manifest's temp, the keyring's,
// the metrics textfile's, a fetch's partial) are made by createNewFile alone: what was at the name
// goes, a symlink there is never followed, and the mode is the one asked (docs/threat-model.md).

import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createNewFile } from '../../src/repository/new-file.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function workspace(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sendense-new-file-'));
  dirs.push(dir);
  return dir;
}

describe('createNewFile', () => {
  it('a symlink under the name is replaced by a new file; the file it pointed to is unchanged', async () => {
    const dir = workspace();
    const outside = path.join(dir, 'outside.conf');
    writeFileSync(outside, 'not ours\n', { mode: 0o644 });
    const name = path.join(dir, '.sendense-keys.tmp-1234');
    symlinkSync(outside, name);
    const handle = await createNewFile(name, 0o600);
    await handle.writeFile('ours\n');
    await handle.close();
    expect(readFileSync(outside, 'utf8')).toBe('not ours\n');
    expect(statSync(outside).mode & 0o777).toBe(0o644);
    expect(lstatSync(name).isFile()).toBe(true);
    expect(readFileSync(name, 'utf8')).toBe('ours\n');
  });

  it("a file a killed writer left goes; the new one has the mode asked, not the old one's", async () => {
    const dir = workspace();
    const name = path.join(dir, '.metrics.prom.99.tmp');
    writeFileSync(name, 'stale and longer than the new text\n', { mode: 0o666 });
    const handle = await createNewFile(name, 0o644);
    await handle.writeFile('new\n');
    await handle.close();
    expect(readFileSync(name, 'utf8')).toBe('new\n');
    expect(statSync(name).mode & 0o777).toBe(0o644);
  });
});
