// A source type from a folder of its own (docs/how-it-works.md#source-types): the rawfile type of
// ./raw-file-source.ts, registered by the one line a shipped type has in SOURCE_TYPES, runs both
// conformance suites: its plan side (validate, checks, declared disks, capabilities, a dry run) and
// a backup through the CLI's main in this process (where the registration is) restored byte-exact
// by the built CLI, which knows nothing of the type. No other file of the hub knows it.

import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSourceType } from '../../../src/source/index.js';
import { runCli } from '../../plan/run-validate.js';
import { useRunWorkspace } from '../../support/run-workspace.js';
import { sendenseRun } from '../../support/sendense-cli.js';
import { createDisk, keepCopy, writeDisk } from '../../support/vm-disks.js';
import { backupSourceSuite } from '../conformance/backup-source-suite.js';
import { sourceDefinitionSuite } from '../conformance/source-definition-suite.js';
import { rawFileSourceDefinition } from './raw-file-source.js';

let unregister: () => void = () => undefined;
beforeAll(() => {
  // The registration line.
  unregister = registerSourceType(rawFileSourceDefinition);
});
afterAll(() => unregister());

let image = '';
const MiB = 1024 * 1024;

sourceDefinitionSuite('rawfile', {
  async setup(dir) {
    image = createDisk(path.join(dir, 'definition-2000.raw'), 8 * MiB, 'raw');
  },
  source: () => ({ type: 'rawfile', disks: [{ key: 2000, file: image }] }),
  unknownKey: 'bitmap',
  refused: {
    source: () => ({ type: 'rawfile', disks: [{ key: 2000, file: 'relative.raw' }] }),
    error: /vm\.source\.disks\[0\]\.file: give an absolute path/,
  },
  capabilities: ['namesImageFiles'],
  dryRead: /disk 2000: \S+definition-2000\.raw \(raw, read whole\)/,
});

let disk = '';
backupSourceSuite('rawfile', {
  async setup(dir) {
    disk = createDisk(path.join(dir, 'disk-2000.raw'), 32 * MiB, 'raw');
  },
  source: (options) => ({ type: 'rawfile', disks: [{ key: 2000, file: options?.missing ? `${disk}.gone` : disk }] }),
  runBackup: (args) => runCli(args),
  async write(commands) {
    writeDisk(disk, commands, 'raw');
  },
  async current(dir) {
    return { file: keepCopy(disk, path.join(dir, 'current.raw')), format: 'raw' };
  },
  missingError: /disk-2000\.raw\.gone/,
  notApplicable: {
    incremental: 'a rawfile source tracks no changes: every backup is a full copy',
    'disappears mid-way':
      'an image file removed while it is read stays readable until its reader closes it (POSIX), as for the qemu source',
  },
});

describe('the shipped CLI, where nothing registered the type', () => {
  const ws = useRunWorkspace('sendense-unregistered-source-', { per: 'file' });
  it('refuses a rawfile plan in one clear error naming vm.source.type, and backs up nothing', async () => {
    const file = path.join(ws.dir, 'unregistered.yaml');
    writeFileSync(
      file,
      `version: 1\nkind: backup\nname: unregistered\nvm:\n  name: unregistered\n  source:\n    type: rawfile\n    disks: [{ key: 2000, file: /x.raw }]\nrepository:\n  path: ${ws.repository}\n`,
    );
    const result = await sendenseRun([file, '--db', ws.db]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout + result.stderr).toMatch(/vm\.source\.type/);
    expect(result.stdout + result.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(ws.repository) ? readdirSync(ws.repository) : []).toEqual([]);
  });
});
