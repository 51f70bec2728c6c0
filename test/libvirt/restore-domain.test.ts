// A restore to a new libvirt domain (docs/how-it-works.md#a-restore-as-a-new-libvirt-domain): a
// point of a running guest written to files and defined as a new domain from the XML stored with
// it: its own name and UUID, the restored files as its disks (the point's bytes, none of the
// original's images), no network interface; it boots when asked while the original keeps running.
// A name that exists is refused with nothing written; a run that fails once its files are written
// leaves neither them nor a domain, and so does doctor after one killed before it ends, unless the
// domain has run since. The API's restore takes the same target and refuses an unknown field. Real
// libvirt, a real guest (test/support/libvirt-guest.ts).

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAtEnv, type CrashPoint } from '../../src/crash-points.js';
import { rows } from '../copy/copy-support.js';
import { writeRestorePlan } from '../restore/restore-plan.js';
import { addApiToken, startApiServer, type ApiServer } from '../support/api-server.js';
import { imagesEqual } from '../support/images.js';
import { startGuest, virsh, virshResult, waitFor, type TestGuest } from '../support/libvirt-guest.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { writeLibvirtPlan } from './libvirt-plans.js';
import { domainImages, exists, recoveredConsole, removeDomain } from './recover-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-restore-domain-', { per: 'file' });
let guest: TestGuest;
let point: string;
let server: ApiServer | undefined;
const made: string[] = [];

beforeAll(async () => {
  guest = await startGuest({ name: 'restoredom', prefillMiB: 8 });
  const plan = writeLibvirtPlan(ws.dir, {
    name: 'restoredom-src',
    vm: 'rdom',
    domain: guest.name,
    repository: ws.repository,
    ports,
    quiesce: 'off',
  });
  const from = guest.rounds();
  await waitFor(() => guest.rounds() >= from + 2, 60_000, 'the guest to write');
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  point = /backup (\S+)$/m.exec(result.stdout)![1]!;
}, 400_000);

afterAll(async () => {
  await server?.stop();
  for (const domain of made) removeDomain(domain);
  guest?.remove();
});

// The point's own file of a disk in the repository.
function pointFile(key: number): string {
  return path.join(ws.repository, 'rdom', `disk-${key}`, `${point}.qcow2`);
}

// files: the images' name (default the domain's short name).
function restoreToDomain(name: string, target: { start?: boolean }, files = name) {
  const domain = `${guest.name}-${name}`;
  made.push(domain);
  const storage = path.join(guest.dir, `${files}-{key}.qcow2`);
  const plan = writeRestorePlan(ws.dir, {
    name: `restore-${files}`,
    vm: 'rdom',
    repository: ws.repository,
    ports,
    point,
    target: { type: 'domain', domain, path: storage, ...target },
  });
  return { domain, plan, storage: (key: number) => storage.replace('{key}', String(key)) };
}

describe('restore a point as a new libvirt domain', () => {
  it('defines a new domain on the restored files, not started, nothing of the original reused', async () => {
    const { domain, plan, storage } = restoreToDomain('copy', {});
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);

    expect(virshResult('domstate', domain).stdout.trim()).toBe('shut off');
    expect(virsh('domuuid', domain).trim()).not.toBe(virsh('domuuid', guest.name).trim());
    expect(domainImages(domain)).toEqual({ vda: storage(2000), vdb: storage(2001) });
    const xml = virsh('dumpxml', '--inactive', domain);
    for (const image of Object.values(guest.images)) expect(xml).not.toContain(image);
    expect(xml).not.toContain(path.join(guest.dir, 'console.log'));
    expect(xml).not.toContain('<interface');
    // The disks hold exactly the point's bytes.
    for (const key of [2000, 2001]) expect(imagesEqual(storage(key), pointFile(key)), `disk ${key}`).toBe(true);
    expect(guest.running()).toBe(true);
  }, 300_000);

  it('refuses a domain name that exists: one error, nothing written, the domain unchanged', async () => {
    // Files of new names: only the domain's name is taken.
    const { domain, plan } = restoreToDomain('copy', {}, 'copy-again');
    const definition = virsh('dumpxml', '--inactive', domain);
    const files = readdirSync(guest.dir).sort();
    // The dry run predicts the refusal from the same check.
    const dry = await sendenseRun([plan, '--db', ws.db, '--dry-run']);
    expect(dry.exitCode, dry.stdout).toBe(1);
    expect(`${dry.stdout}${dry.stderr}`).toContain(`domain ${domain} already exists`);
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(`domain ${domain} already exists`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(guest.dir).sort()).toEqual(files);
    expect(virsh('dumpxml', '--inactive', domain)).toBe(definition);
  }, 300_000);

  it('boots the new domain when asked while the original keeps running', async () => {
    const { domain, plan, storage } = restoreToDomain('booted', { start: true });
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(virshResult('domstate', domain).stdout.trim()).toBe('running');
    expect(domainImages(domain)).toEqual({ vda: storage(2000), vdb: storage(2001) });
    await waitFor(
      () => recoveredConsole(guest.dir, domain).includes('FIRST-WRITE'),
      300_000,
      'the restored guest to boot and write',
    );
    const rounds = guest.rounds();
    await waitFor(() => guest.rounds() >= rounds + 2, 120_000, 'the original to go on writing');
    expect(guest.running()).toBe(true);
  }, 600_000);

  it('takes the same target through the API for an operator, refuses it to the restore role and an unknown field', async () => {
    const hub = path.join(ws.dir, 'hub.yaml');
    writeFileSync(hub, `nbd:\n  ports: ${ports[0]}-${ports[1]}\n`);
    const restorer = await addApiToken(ws.db, 'restorer', 'restore');
    const operator = await addApiToken(ws.db, 'operator', 'operator');
    // A restore plan to a domain, served: running it defines a VM, so it is the operator's too.
    const { domain: planDomain, plan } = restoreToDomain('plan-run', {});
    server = await startApiServer({ db: ws.db, plans: [plan], args: ['--hub-config', hub] });
    const domain = `${guest.name}-api`;
    made.push(domain);
    const restore = (target: unknown, token = operator) =>
      server!.request('POST', `/api/v1/backups/${point}/restore?wait=true`, { token, body: { target } });

    // Defining a VM on the hub's host is more than reading guest data: the restore role is refused.
    const byRestorer = await restore({ type: 'domain', domain, path: guest.dir }, restorer);
    expect(byRestorer.status, byRestorer.text).toBe(403);
    expect(byRestorer.text).toContain('needs the operator role');
    const planByRestorer = await server.request('POST', '/api/v1/plans/restore-plan-run/run?wait=true', {
      token: restorer,
    });
    expect(planByRestorer.status, planByRestorer.text).toBe(403);
    expect(planByRestorer.text).toContain('needs the operator role');
    expect(virshResult('domstate', domain).status).not.toBe(0);
    expect(virshResult('domstate', planDomain).status).not.toBe(0);

    const unknown = await restore({ type: 'domain', domain, path: guest.dir, mac: '52:54:00:00:00:01' });
    expect(unknown.status, unknown.text).toBe(400);
    expect(unknown.text).toContain('mac');
    expect(virshResult('domstate', domain).status).not.toBe(0);

    const answer = await restore({ type: 'domain', domain, path: guest.dir });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json()).toMatchObject({ operation: 'restore', status: 'succeeded', exitCode: 0 });
    expect(virshResult('domstate', domain).stdout.trim()).toBe('shut off');
    const images = {
      vda: path.join(guest.dir, `${domain}-2000.qcow2`),
      vdb: path.join(guest.dir, `${domain}-2001.qcow2`),
    };
    expect(domainImages(domain)).toEqual(images);
    expect(imagesEqual(images.vda, pointFile(2000))).toBe(true);
  }, 300_000);

  it('leaves no domain and no files when the run fails after writing them', async () => {
    // The stored definition names a kernel that is not there: defined, the domain cannot start.
    const stored = path.join(ws.repository, 'rdom', 'domain', `${point}.xml`);
    const original = readFileSync(stored, 'utf8');
    writeFileSync(stored, original.replace(/<kernel>[^<]*<\/kernel>/, '<kernel>/nonexistent/vmlinuz</kernel>'));
    try {
      const { domain, plan, storage } = restoreToDomain('broken', { start: true });
      const result = await sendenseRun([plan, '--db', ws.db]);
      expect(result.exitCode, result.stdout).toBe(1);
      expect(result.stderr).toContain(`start domain ${domain}`);
      expect(virshResult('domstate', domain).status).not.toBe(0);
      for (const key of [2000, 2001]) expect(exists(storage(key)), `disk ${key}`).toBe(false);
      // No partial file either (the serial console's file QEMU opened on the start is not the restore's).
      expect(readdirSync(guest.dir).filter((name) => name.includes('broken') && !name.endsWith('console.log'))).toEqual(
        [],
      );
    } finally {
      writeFileSync(stored, original);
    }
  }, 300_000);

  // Killed outright (kill -9) once its files are in place, before or after the define: doctor gives
  // back what the failed run would have, and the same restore then runs from the start.
  for (const [at, defined] of [
    ['restore.files-placed', false],
    ['restore.domain-defined', true],
  ] as const satisfies readonly (readonly [CrashPoint, boolean])[]) {
    it(`killed at ${at}: doctor leaves no domain and no files, and the restore then runs again`, async () => {
      const { domain, plan, storage } = restoreToDomain(`killed-${defined ? 'defined' : 'placed'}`, {});
      const killed = await sendenseRun([plan, '--db', ws.db], killAtEnv(at));
      expect(killed.exitCode, `${killed.stdout}\n${killed.stderr}`).not.toBe(0);
      for (const key of [2000, 2001]) expect(exists(storage(key)), `disk ${key} placed`).toBe(true);
      expect(virshResult('domstate', domain).status === 0, 'the domain defined').toBe(defined);

      const doctor = await sendenseRun(['doctor', '--db', ws.db]);
      expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
      expect(doctor.stdout).toContain(`restored domain ${domain}`);
      expect(virshResult('domstate', domain).status, 'the domain undefined').not.toBe(0);
      for (const key of [2000, 2001]) expect(exists(storage(key)), `disk ${key} deleted`).toBe(false);
      expect(rows(ws.db, 'node_resources')).toEqual([]);

      const again = await sendenseRun([plan, '--db', ws.db]);
      expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
      expect(virshResult('domstate', domain).stdout.trim()).toBe('shut off');
      for (const key of [2000, 2001]) expect(imagesEqual(storage(key), pointFile(key)), `disk ${key}`).toBe(true);
    }, 300_000);
  }

  it('killed once the domain is defined, then started by its user: doctor keeps the domain and its files', async () => {
    const { domain, plan, storage } = restoreToDomain('killed-then-used', {});
    const killed = await sendenseRun([plan, '--db', ws.db], killAtEnv('restore.domain-defined'));
    expect(killed.exitCode, `${killed.stdout}\n${killed.stderr}`).not.toBe(0);
    virsh('start', domain);

    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(doctor.stdout).toMatch(
      new RegExp(`restored domain ${domain}.*keep it and its files \\(it has run since: running`),
    );
    expect(virshResult('domstate', domain).stdout.trim()).toBe('running');
    for (const key of [2000, 2001]) expect(exists(storage(key)), `disk ${key} kept`).toBe(true);
    expect(rows(ws.db, 'node_resources')).toEqual([]);
  }, 300_000);
});
