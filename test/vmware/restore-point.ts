// A point restored with `sendense-run restore` to qcow2 files (verify: true), for the VMware tests:
// the restore reads the point through its chain as a user's would.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { sendenseRun } from '../support/sendense-cli.js';

export async function restoreToFiles(options: {
  readonly dir: string;
  readonly db: string;
  readonly vm: string;
  readonly repository: string;
  readonly ports: readonly [number, number];
  readonly point: string;
  readonly keys: readonly number[];
}): Promise<Map<number, string>> {
  const name = `restore-${options.point}`;
  const plan = path.join(options.dir, `${name}.yaml`);
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'restore',
      name,
      vm: { name: options.vm },
      repository: { path: options.repository },
      nbd: { ports: `${options.ports[0]}-${options.ports[1]}` },
      restore: {
        point: options.point,
        target: { type: 'file', path: path.join(options.dir, `${name}-{key}.qcow2`), format: 'qcow2' },
        verify: true,
      },
    }),
  );
  const result = await sendenseRun([plan, '--db', options.db]);
  if (result.exitCode !== 0) throw new Error(`restore of ${options.point} failed:\n${result.stdout}\n${result.stderr}`);
  return new Map(options.keys.map((key) => [key, path.join(options.dir, `${name}-${key}.qcow2`)]));
}
