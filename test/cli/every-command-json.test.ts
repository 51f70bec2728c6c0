// docs/commands.md: `--json` makes every command print one JSON object per line. Each command of
// src/cli/commands.ts is run here with --json against one real backed-up VM (or named below with
// why it is run by its own tests instead), and every line it prints on stdout must be JSON, and
// one its declaration (docs/json-events.md is made from it) names, with no field it leaves out.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands.js';
import { RUN_EVENT_DOCS } from '../../src/engine/run-event-docs.js';
import type { AnyJsonLineDoc, JsonOutput } from '../../src/output/json-output.js';
import { backUpPoints, writeRetentionPlan } from '../retention/point-chain.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const ws = useRunWorkspace('every-json-');
const ports = portRangeForTestFile();

// Commands that need what this file does not start, each --json-tested where it is.
const ELSEWHERE: Record<string, string> = {
  schedule: 'runs in the foreground until a signal (test/schedule/)',
  api: 'serves in the foreground until a signal (test/api/)',
  fetch: 'reads an s3 bucket (test/copy/)',
  files: 'starts a libguestfs appliance (test/files/)',
  mount: 'mounts with FUSE until a signal (test/files/)',
  serve: 'serves over NBD until a signal (test/serve/)',
  failover: 'starts a libvirt domain (test/replica/failover.test.ts)',
  failback: 'stops and starts libvirt domains (test/replica/failback.test.ts)',
  checkpoints: "asks libvirt for a domain's checkpoints (test/libvirt/checkpoints.test.ts)",
  retire: 'takes a backup plan of a libvirt domain (test/libvirt/checkpoints.test.ts)',
  clear: 'needs a point marked suspect by a real attack (test/anomaly/suspect-point.test.ts, with --json)',
  ack: 'needs a failed run (test/console/console-failures.test.ts, with --json)',
};

// A run's events (docs/json-events.md's first table): what `restore --json` prints.
const RUN_EVENTS: JsonOutput = {
  lines: { typed: true, lines: RUN_EVENT_DOCS as unknown as Readonly<Record<string, AnyJsonLineDoc>> },
};

// What of a --json line its command's declaration does not name: its type, or fields (none: declared).
function undeclared(json: JsonOutput, line: Record<string, unknown>): string[] {
  const keys = Object.keys(line).filter((key) => key !== 'time');
  const missing = (fields: Readonly<Record<string, string>>) => keys.filter((key) => !(key in fields));
  if (json.lines.typed) {
    const declared = json.lines.lines[String(line.type)];
    return declared === undefined
      ? [`type ${String(line.type)}`]
      : missing(declared.fields).filter((key) => key !== 'type');
  }
  return Object.values(json.lines.lines)
    .map((declared) => missing(declared.fields))
    .reduce((fewest, each) => (each.length < fewest.length ? each : fewest));
}

describe('--json of every command', () => {
  it('prints only JSON lines on stdout', { timeout: 300_000 }, async () => {
    const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 2, 'vmj');
    const [p0, p1] = chain.ids as [string, string];
    const plan = writeRetentionPlan(chain, { keepLast: 5 });
    const encrypted = path.join(ws.dir, 'encrypted');
    const keyFile = path.join(ws.dir, 'repo.key');
    writeFileSync(keyFile, `${'k'.repeat(40)}\n`, { mode: 0o600 });
    const newKeyFile = path.join(ws.dir, 'new.key');
    writeFileSync(newKeyFile, `${'n'.repeat(40)}\n`, { mode: 0o600 });
    const empty = path.join(ws.dir, 'empty-repository');
    mkdirSync(empty);

    // Each command (as commands.ts names it) with the words it is run with, in this order.
    const runs: [string, string[]][] = [
      ['run', [plan, '--dry-run']],
      ['validate', [plan]],
      ['status', [plan]],
      ['backups', ['--vm', 'vmj']],
      ['history', ['--limit', '3']],
      ['doctor', ['--dry-run']],
      ['verify', ['--vm', 'vmj']],
      ['restore', ['vmj', '--point', p1, '--target', `dir:${path.join(ws.dir, 'restored')}`]],
      ['prune', [plan, '--dry-run']],
      ['protect', ['vmj', '--point', p1]],
      ['unprotect', ['vmj', '--point', p1]],
      ['forget', ['vmj', '--point', p0, '--dry-run']],
      ['catalog', ['import', empty]],
      ['key', ['add', encrypted, '--key-file', keyFile, '--new-key-file', newKeyFile]],
      ['key', ['list', encrypted, '--key-file', keyFile]],
      ['replicas', []],
      ['token', ['add', 'reader', '--role', 'audit']],
      ['token', ['list']],
      ['audit', []],
      ['schema', ['--path']],
      ['help', ['forget']],
    ];
    const covered = new Set([...runs.map(([name]) => name), ...Object.keys(ELSEWHERE)]);
    expect(COMMANDS.map((command) => command.name).filter((name) => !covered.has(name))).toEqual([]);

    for (const [name, args] of runs) {
      const result = await sendenseRun([name, ...args, '--db', ws.db, '--json']);
      const what = `${name} ${args.join(' ')}`;
      expect(result.exitCode, `${what}\n${result.stderr}`).toBeLessThanOrEqual(1);
      const lines = result.stdout.split('\n').filter(Boolean);
      // The one exception, on purpose: a secret is never put into JSON, so token add prints the
      // new token's secret as its own last line, after the JSON one (docs/commands.md, token).
      if (name === 'token' && args[0] === 'add') expect(lines.pop()).toMatch(/^\S+$/);
      for (const line of lines) expect(() => JSON.parse(line) as unknown, `${what}: ${line}`).not.toThrow();
      const command = COMMANDS.find((each) => each.name === name);
      if (command === undefined) continue; // help: docs/json-events.md#help---json
      const { json } = await command.load();
      for (const line of lines.map((each) => JSON.parse(each) as Record<string, unknown>)) {
        if (line.type === 'error') continue; // the run event table's, on any command
        expect(undeclared(name === 'restore' ? RUN_EVENTS : json, line), `${what}: ${JSON.stringify(line)}`).toEqual(
          [],
        );
      }
    }
  });
});
