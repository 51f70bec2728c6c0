// Files that are not plans at all get one clear line saying what and where, exit 2, no stack:
// through `validate` and through a run.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../plan/run-validate.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const ws = useRunWorkspace('cli-plan-input-');

function file(name: string, content: string | Buffer): string {
  const full = path.join(ws.dir, name);
  writeFileSync(full, content);
  return full;
}

const VALID = `version: 1
kind: backup
name: input-check
vm:
  name: vm1
  source:
    type: qemu
    disks: [{ key: 2000, path: /var/lib/vms/a.qcow2 }]
repository: { path: /backup/repository }
`;

describe('validate on files that are not plans', () => {
  const cases: readonly { readonly name: string; readonly make: () => string; readonly line: string }[] = [
    {
      name: 'an empty file',
      make: () => file('empty.yaml', ''),
      line: ':1:1: the file is empty; a plan starts with version: 1',
    },
    {
      name: 'a YAML list',
      make: () => file('list.yaml', '- version: 1\n'),
      line: ':1:1: a plan must be a mapping of keys (version, kind, name, ...)',
    },
    {
      name: 'a duplicate key, named in full',
      make: () => file('dup.yaml', 'version: 1\nversion: 1\n'),
      line: ":2:1: YAML error: duplicate key 'version'",
    },
    {
      name: 'bytes that are not UTF-8, at the first bad byte',
      make: () =>
        file(
          'latin1.yaml',
          Buffer.concat([Buffer.from('version: 1\nname: caf'), Buffer.from([0xe9]), Buffer.from('\n')]),
        ),
      line: ':2:10: not UTF-8 text: a plan is a YAML file in UTF-8 (is it the right file?)',
    },
    {
      name: 'a file far larger than a plan',
      make: () => file('huge.yaml', `#${'x'.repeat(2 * 1024 * 1024 - 1)}`),
      line: ': cannot read plan: 2097152 bytes is too large for a plan (at most 1048576); is it the right file?',
    },
    {
      name: 'a FIFO (would block a reader)',
      make: () => (execFileSync('mkfifo', [path.join(ws.dir, 'fifo.yaml')]), path.join(ws.dir, 'fifo.yaml')),
      line: ': cannot read plan: not a regular file',
    },
  ];
  for (const { name, make, line } of cases) {
    it(name, async () => {
      const plan = make();
      const result = await runCli(['validate', plan]);
      expect(result.exitCode).toBe(2);
      expect(result.stdout.split('\n')).toEqual([
        `${plan}${line}`,
        '1 plan checked, 1 invalid, 1 error, 0 warnings',
        '',
      ]);
      expect(result.stderr).toBe('');
    });
  }

  it('{key} unquoted inside a flow mapping is one YAML error per line, with the fix', async () => {
    const plan = file('flow.yaml', 'version: 1\nrestore:\n  target: { type: file, path: /r/vm-{key}.qcow2 }\n');
    const result = await runCli(['validate', plan]);
    expect(result.stdout.split('\n')).toEqual([
      `${plan}:3:37: YAML error: Unexpected flow-map-start at node end (inside { } quote a value holding {key}, like "/restore/vm-{key}.qcow2")`,
      '1 plan checked, 1 invalid, 1 error, 0 warnings',
      '',
    ]);
  });

  it('an empty value where a choice is expected says "got nothing"', async () => {
    const plan = file('nothing.yaml', VALID.replace('type: qemu', 'type:'));
    const result = await runCli(['validate', plan]);
    expect(result.stdout).toContain(
      `${plan}:7:10: vm.source.type: must be one of qemu, nbd, vmware, libvirt (got nothing)\n`,
    );
  });

  it('a byte-order mark does not shift columns', async () => {
    const plan = file('bom.yaml', `\uFEFF${VALID.replace('kind: backup', 'kind: backups')}`);
    const result = await runCli(['validate', plan]);
    expect(result.stdout).toContain(
      `${plan}:2:7: kind: must be one of backup, incremental, restore, verify, recover, replicate, copy, drill (got 'backups')`,
    );
  });
});

describe('running something that is not a plan file', () => {
  it('a directory is refused by name, through `run` and as the bare argument', async () => {
    const folder = path.join(ws.dir, 'plans');
    mkdirSync(folder);
    for (const argv of [['run', folder], [folder]]) {
      const result = await runCli(argv);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toBe(`sendense-run: ${folder}: cannot read plan: is a directory\n`);
    }
  });

  it('a plan file without a .yaml suffix runs like any other (here: its error is shown)', async () => {
    const plan = file('nightly', VALID.replace('version: 1', 'version: 7'));
    const result = await runCli([plan, '--dry-run']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(`sendense-run: ${plan}:1:10: version: must be 1 (got 7)\n`);
  });
});
