// Ransomware signals end to end (docs/anomaly.md): a real ext4 disk backed up through ordinary
// days, then files encrypted in place with openssl. The attack's point is marked suspect in the
// run that took it, with its reasons in numbers; the clean points before it survive a keep-last
// retention that would have merged them; status exits 1 naming VM and point; `clear` records who
// and gives the clean points back to prune.

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import { afterEach, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { imagesEqual } from '../support/images.js';
import { keepCopy, portRangeForTestFile } from '../support/vm-disks.js';
import { DOCUMENTS, encryptInPlace, makeGuestFs, ordinaryChange } from './guest-fs.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('anomaly-suspect-');
let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

// A webhook on 127.0.0.1 that answers 204 and keeps each JSON body.
async function webhook(): Promise<{ url: string; bodies: Record<string, unknown>[] }> {
  const bodies: Record<string, unknown>[] = [];
  server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      bodies.push(JSON.parse(text) as Record<string, unknown>);
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies };
}

interface SuspectFields {
  readonly id: string;
  readonly type: string;
  readonly suspect: string | null;
  readonly suspectClearedBy: string | null;
  readonly heldBy: string | null;
}

it('an attack is flagged in its own run, its clean points outlive keep-last until clear', async () => {
  const guest = makeGuestFs(ws.dir);
  const plan = writePlan(ws.dir, {
    name: 'guarded',
    vm: 'guardedvm',
    disks: [{ key: 2000, path: guest.source }],
    repository: ws.repository,
    ports,
    retention: { keepLast: 3 },
  });
  const doc = parse(readFileSync(plan, 'utf8')) as Record<string, unknown>;
  const hook = await webhook();
  // notify.on is failure (the default): only the suspect point's run is told.
  writeFileSync(plan, stringify({ ...doc, anomaly: { learn: 4 }, notify: { webhook: { url: hook.url } } }));
  const run = async () => {
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    return result;
  };
  const points = async () => (await listBackups(ws.db, 'guardedvm')) as unknown as SuspectFields[];

  await run();
  for (let day = 1; day <= 2; day++) {
    ordinaryChange(guest, day);
    await run();
  }
  const learning = await sendenseRun(['status', plan, '--db', ws.db]);
  expect(learning.exitCode, learning.stdout).toBe(0);
  expect(learning.stdout).toContain('guarded: ransomware signals learning: 2 of 4 incrementals with figures');
  for (let day = 3; day <= 4; day++) {
    ordinaryChange(guest, day);
    await run();
  }
  const before = await points();
  expect(before.every((point) => point.suspect === null)).toBe(true);
  // keep-last 3: the three newest points, all clean.
  expect(before).toHaveLength(3);

  const clean = keepCopy(guest.source, path.join(ws.dir, 'clean.qcow2'));
  encryptInPlace(guest, DOCUMENTS.slice(0, 12));
  const attackRun = await run();
  const after = await points();
  const attack = after.at(-1)!;
  expect(attack.suspect).toMatch(
    /^changed \d+\.\dx the median of the last 4 \(.+, usually .+\); (\d+)% of sampled changed blocks incompressible \(\d+ of \d+\), usually 0%$/,
  );
  expect(Number(/; (\d+)% of sampled/.exec(attack.suspect!)![1])).toBeGreaterThanOrEqual(50);
  expect(attackRun.stdout + attackRun.stderr).toContain(`backup ${attack.id} of guardedvm is suspect`);
  // The three clean points before it are still there (keep-last 3 would have merged the oldest away).
  expect(after.map((point) => point.id)).toEqual([...before.map((point) => point.id), attack.id]);
  for (const clean of after.slice(0, -1)) expect(clean.heldBy, clean.id).toBe(attack.id);
  expect(hook.bodies).toHaveLength(1);
  expect(hook.bodies[0]).toMatchObject({ status: 'succeeded', backupId: attack.id, suspect: attack.suspect });

  const pruned = await sendenseRun(['prune', plan, '--db', ws.db]);
  expect(pruned.exitCode, pruned.stderr).toBe(0);
  expect((await points()).map((point) => point.id)).toEqual(after.map((point) => point.id));
  const forget = await sendenseRun(['forget', 'guardedvm', '--point', before[0]!.id, '--db', ws.db]);
  expect(forget.exitCode).not.toBe(0);
  expect(forget.stderr).toContain(`clean point kept for suspect point ${attack.id}`);

  // A restore of `point: last-clean` takes the point before the attack, not the newest.
  const restored = path.join(ws.dir, 'restored-2000.qcow2');
  const restorePlan = path.join(ws.dir, 'last-clean.yaml');
  writeFileSync(
    restorePlan,
    stringify({
      version: 1,
      kind: 'restore',
      name: 'last-clean',
      vm: { name: 'guardedvm' },
      repository: { path: ws.repository },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
      restore: {
        point: 'last-clean',
        target: { type: 'file', path: path.join(ws.dir, 'restored-{key}.qcow2'), format: 'qcow2' },
      },
    }),
  );
  const restore = await sendenseRun([restorePlan, '--db', ws.db]);
  expect(
    restore.exitCode,
    `${restore.stdout}
${restore.stderr}`,
  ).toBe(0);
  expect(imagesEqual(restored, clean)).toBe(true);

  const status = await sendenseRun(['status', plan, '--db', ws.db]);
  expect(status.exitCode, status.stdout).toBe(1);
  expect(status.stdout).toContain(`SUSPECT point ${attack.id} of VM guardedvm`);

  const cleared = await sendenseRun(['clear', 'guardedvm', '--point', attack.id, '--db', ws.db, '--json']);
  expect(cleared.exitCode, cleared.stderr).toBe(0);
  expect(JSON.parse(cleared.stdout)).toMatchObject({
    type: 'cleared',
    backupId: attack.id,
    by: userInfo().username,
    released: expect.arrayContaining(before.map((point) => point.id)),
  });
  const record = (await points()).find((point) => point.id === attack.id)!;
  expect(record.suspectClearedBy).toBe(userInfo().username);
  expect((await sendenseRun(['status', plan, '--db', ws.db])).exitCode).toBe(0);
  // Released: prune merges the oldest away again.
  expect((await sendenseRun(['prune', plan, '--db', ws.db])).exitCode).toBe(0);
  expect((await points()).map((point) => point.id)).toEqual([...before.slice(1), attack].map((point) => point.id));
}, 400_000);
