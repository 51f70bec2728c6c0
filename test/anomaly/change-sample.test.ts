// Each incremental records how much changed and how random the change was (docs/anomaly.md):
// on a real ext4 filesystem, an ordinary day's changes (logs, notes) are mostly compressible,
// files encrypted in place with openssl are not; `backups --json` and the manifest both say so.

import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { DOCUMENTS, encryptInPlace, makeGuestFs, ordinaryChange } from './guest-fs.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('anomaly-sample-');

interface Sample {
  readonly sampledBlocks: number;
  readonly incompressibleBlocks: number;
}

it('an ordinary incremental and one after files were encrypted in place: the second is the random one', async () => {
  const guest = makeGuestFs(ws.dir);
  const plan = writePlan(ws.dir, {
    name: 'sampled',
    vm: 'sampledvm',
    disks: [{ key: 2000, path: guest.source }],
    repository: ws.repository,
    ports,
  });
  const run = async () => {
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  };
  await run();
  ordinaryChange(guest, 1);
  await run();
  encryptInPlace(guest, DOCUMENTS.slice(0, 12));
  await run();

  const backups = await listBackups(ws.db, 'sampledvm');
  expect(backups.map((backup) => backup.type)).toEqual(['full', 'incremental', 'incremental']);
  const samples = backups.map((backup) => (backup.disks[0] as unknown as { sample: Sample | null }).sample);
  const share = (sample: Sample | null) => sample!.incompressibleBlocks / sample!.sampledBlocks;
  for (const sample of samples) expect(sample?.sampledBlocks).toBeGreaterThan(0);
  const [, ordinary, attack] = samples;
  // 12 MiB of documents encrypted: nearly every sampled block is random; a log and a note are text.
  expect(share(ordinary)).toBeLessThan(0.2);
  expect(share(attack)).toBeGreaterThan(0.7);
  expect(backups[2]!.bytes!).toBeGreaterThanOrEqual(12 * 1024 * 1024);
  // The manifest beside the file holds the same figures (the repository alone can rebuild them).
  const manifest = JSON.parse(readFileSync(backups[2]!.disks[0]!.file.replace(/\.qcow2$/, '.json'), 'utf8')) as {
    sample?: Sample;
  };
  expect(manifest.sample).toEqual(attack);
}, 180_000);
