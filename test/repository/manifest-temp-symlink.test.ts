// A manifest is written through a temp file beside it (`.<name>.<pid>.tmp`), a name whoever can
// write the repository can guess: a symlink put there must not be followed (docs/threat-model.md).

import { lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeManifest } from '../../src/repository/manifest-file.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, type DiskManifest } from '../../src/repository/manifest.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("a manifest's temp file", () => {
  it('a symlink planted under its name is replaced, and the file it pointed to is left as it was', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sendense-manifest-temp-'));
    dirs.push(dir);
    const outside = path.join(dir, 'outside.conf');
    writeFileSync(outside, 'not ours\n');
    const file = path.join(dir, '20261126-000000-abcd.json');
    const temp = path.join(dir, `.20261126-000000-abcd.json.${process.pid}.tmp`);
    symlinkSync(outside, temp);
    const manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      ranges: [],
    } as unknown as DiskManifest;
    await writeManifest(file, manifest);
    expect(readFileSync(outside, 'utf8')).toBe('not ours\n');
    expect(lstatSync(file).isFile()).toBe(true);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ format: MANIFEST_FORMAT });
    expect(lstatSync(temp, { throwIfNoEntry: false })).toBeUndefined();
  });
});
