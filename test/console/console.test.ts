// The web console (docs/console.md) in a real browser: Debian's Chromium driven by playwright-core
// against a real `sendense-run api` over a real state database and repository (a qemu-source
// plan with one point and one failed run, a replicate plan with one point and a replica domain on
// this host's libvirt). An operator logs in with the keyboard, sees the dashboard, runs a plan and
// watches its task to the end, protects and forgets points, runs a failover test from the replicas
// screen and cancels it; an audit token is offered no action and no file browser, and the API
// refuses what a typed URL asks. axe-core checks every screen at a phone's width and a desktop's;
// screenshots of each land in test-artifacts/console/ (gitignored). The Files screen on a real
// guest disk: ./console-files.test.ts.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { PATHS } from '../../console/src/api-paths.js';
import { removeDomain } from '../libvirt/recover-support.js';
import { ensureLibvirtd, virshResult } from '../support/libvirt-guest.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import {
  checkScreen,
  launchChromium,
  logIn as logInAt,
  openSession,
  startConsoleServer,
  tokenSecret,
  WIDTHS,
  type ConsoleServer,
} from './browser.js';

const ws = useRunWorkspace('console-', { per: 'file' });
const ports = portRangeForTestFile(30);
let server: ConsoleServer | undefined;
let base = '';
let browser: Browser | undefined;
let adminSecret = '';
let auditSecret = '';
let firstPoint = '';
let replicaDir = '';
// The replicate plan's replica domain (the test- prefix: a suite's teardown removes what a killed run left).
const REPLICA_DOMAIN = `sendense-test-console-${process.pid}-replica`;

// A replicate plan of a qemu source to this host, with a replica domain defined from the plan.
function writeReplicatePlan(plans: string, source: string, ports: readonly [number, number]): string {
  replicaDir = path.join(ws.dir, 'replica');
  mkdirSync(replicaDir, { mode: 0o755 });
  const file = path.join(plans, 'app-replica.yaml');
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'replicate',
      name: 'app-replica',
      vm: { name: 'app', source: { type: 'qemu', disks: [{ key: 2000, path: source, format: 'qcow2' }] } },
      replica: {
        path: path.join(replicaDir, 'app-{key}.qcow2'),
        points: 2,
        scratch: ws.dir,
        domain: REPLICA_DOMAIN,
        // Software emulation: a host without /dev/kvm defines it too.
        definition: { memory: '64MiB', vcpus: 1, virtualization: 'qemu' },
      },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    }),
  );
  return file;
}

beforeAll(async () => {
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  const disk = createDisk(path.join(ws.dir, 'web0.qcow2'), 16 * 1024 * 1024);
  writeDisk(disk, ['write -P 0x41 0 2M']);
  const web = writePlan(plans, {
    name: 'web-nightly',
    vm: 'web',
    disks: [{ key: 2000, path: disk }],
    repository: ws.repository,
    ports: [ports[0], ports[0] + 9],
  });
  const db = writePlan(plans, {
    name: 'db-nightly',
    vm: 'db',
    disks: [{ key: 2000, path: path.join(ws.dir, 'gone.qcow2') }],
    repository: ws.repository,
    ports: [ports[0] + 10, ports[0] + 19],
  });
  expect((await sendenseRun([web, '--db', ws.db])).exitCode).toBe(0);
  expect((await sendenseRun([db, '--db', ws.db])).exitCode).toBe(1);
  firstPoint = (await listBackups(ws.db, 'web'))[0].id;
  writeDisk(disk, ['write -P 0x42 4M 3M']);
  // One replica point, its domain defined on this host's libvirt (whose QEMU must reach the files).
  ensureLibvirtd();
  chmodSync(ws.dir, 0o755);
  const app = createDisk(path.join(ws.dir, 'app0.qcow2'), 16 * 1024 * 1024);
  writeDisk(app, ['write -P 0x61 0 1M']);
  const replicate = writeReplicatePlan(plans, app, [ports[0] + 20, ports[1]]);
  const synced = await sendenseRun([replicate, '--db', ws.db]);
  expect(synced.exitCode, synced.stdout + synced.stderr).toBe(0);
  adminSecret = await tokenSecret(ws.db, 'lead', 'operator');
  auditSecret = await tokenSecret(ws.db, 'auditor', 'audit');
  server = await startConsoleServer(plans, ws.db);
  base = server.base;
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (virshResult('domstate', `${REPLICA_DOMAIN}-test`).status === 0) await sendenseRun(['doctor', '--db', ws.db]);
  removeDomain(`${REPLICA_DOMAIN}-test`);
  removeDomain(REPLICA_DOMAIN);
});

const open = (width: (typeof WIDTHS)[number] = WIDTHS[1]) => openSession(browser!, width);
const logIn = (page: Parameters<typeof logInAt>[0], secret: string) => logInAt(page, base, secret);

describe('the web console', () => {
  it('is served with a strict CSP, no framing, no sniffing, cached assets and client routes', async () => {
    const index = await fetch(`${base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(index.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(index.headers.get('x-frame-options')).toBe('DENY');
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    // Nothing from another origin, nothing inline.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1];
    const asset = await fetch(`${base}${script}`);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${base}${script}`, { headers: { 'if-none-match': asset.headers.get('etag')! } })).status).toBe(
      304,
    );
    // A client route is the page; an unknown API route stays a JSON 404; a missing asset is a 404.
    const route = await fetch(`${base}/backups/web`);
    expect(route.status).toBe(200);
    expect(await route.text()).toBe(html);
    const unknownApi = await fetch(`${base}/api/v1/nothing-here`);
    expect(unknownApi.status).toBe(404);
    expect(await unknownApi.json()).toMatchObject({ error: 'not-found' });
    expect((await fetch(`${base}/assets/gone-1234.js`)).status).toBe(404);
  });

  it("calls only routes the API's OpenAPI document has", async () => {
    const document = (await (await fetch(`${base}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    for (const route of Object.values(PATHS)) {
      const [method, url] = route.split(' ');
      const openapiPath = url.replace(/:([A-Za-z]+)/g, '{$1}');
      expect(document.paths[openapiPath]?.[method.toLowerCase()], route).toBeDefined();
    }
  });

  it('an operator sees the dashboard, runs a plan and watches its task to the end', async () => {
    const { context, page, problems } = await open();
    try {
      await logIn(page, adminSecret);
      // The dashboard: the VM with a plan, the failed run of the last 7 days, the repository.
      const failures = page.locator('section', {
        has: page.getByRole('heading', { name: 'Failures of the last 7 days' }),
      });
      // Counted per plan, linking to its failures (test/console/console-failures.test.ts).
      await expect.poll(() => failures.textContent()).toContain('db-nightly: 1 open');
      const repositories = page.locator('.table-box[aria-label="Repositories"]');
      expect(await repositories.textContent()).toContain(ws.repository);
      const replicas = page.locator('section', { has: page.getByRole('heading', { name: 'Replicas' }) });
      expect(await replicas.textContent()).toMatch(/app-replica on this host: \d+ (s|min)/);
      await checkScreen(page, 'dashboard', () => repositories.waitFor());

      // To Plans with the keyboard: the nav link focused and followed with Enter.
      await page.getByRole('link', { name: 'Plans' }).focus();
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Plans' }).waitFor();
      await expect.poll(() => page.evaluate(() => document.activeElement?.tagName), { timeout: 10_000 }).toBe('H1');
      await checkScreen(page, 'plans', () => page.getByRole('button', { name: 'Run now web-nightly' }).waitFor());

      // Run now: the task view follows its events to the end.
      await page.getByRole('button', { name: 'Run now web-nightly' }).focus();
      await page.keyboard.press('Enter');
      await page.waitForURL(/\/tasks\/task-/);
      const end = page.locator('p.end');
      await end.waitFor({ timeout: 60_000 });
      expect(await end.textContent()).toMatch(/^Run succeeded in [\d.]+ s, point \d{8}-\d{6}-[0-9a-f]+/);
      const steps = await page.locator('ol.steps li').allTextContents();
      expect(steps.some((step) => /done: transfer: 1 disk/.test(step))).toBe(true);
      expect(steps.some((step) => /done: resolve-chain: backup .*incremental/.test(step))).toBe(true);
      const bar = page.locator('progress#disk-2000');
      expect(await bar.getAttribute('value')).toBe(await bar.getAttribute('max'));
      expect(await page.getByText(/^disk 2000: .* \(100%\)$/).count()).toBe(1);
      await checkScreen(page, 'task', () => end.waitFor());
      expect((await listBackups(ws.db, 'web')).filter((point) => point.status === 'complete')).toHaveLength(2);

      // A dry-run: the steps a run would take.
      await page.goto(`${base}/plans`);
      await page.getByRole('button', { name: 'Dry-run web-nightly' }).click();
      await page.getByRole('heading', { name: /^What a run would do/ }).waitFor({ timeout: 60_000 });
      expect(await page.locator('ol.steps').first().textContent()).toContain('transfer');
      await checkScreen(page, 'dry-run', () => page.getByRole('heading', { name: /^What a run would do/ }).waitFor());
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('an operator protects a point and forgets another, asked first', async () => {
    const { context, page, problems } = await open();
    try {
      await logIn(page, adminSecret);
      await page.getByRole('link', { name: 'Backups' }).click();
      await checkScreen(page, 'backups', () => page.getByRole('link', { name: 'web' }).waitFor());
      await page.getByRole('link', { name: 'web' }).click();
      const points = await listBackups(ws.db, 'web');
      const newest = points.at(-1)!.id;
      await checkScreen(page, 'vm', () => page.getByRole('button', { name: `Protect point ${firstPoint}` }).waitFor());

      await page.getByRole('button', { name: `Protect point ${firstPoint}` }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `point ${firstPoint} is protected` })
        .waitFor();
      expect((await listBackups(ws.db, 'web')).find((point) => point.id === firstPoint)?.protected).toBe(true);
      expect(await page.locator(`tr[data-point="${firstPoint}"] td[data-label="Protected"]`).textContent()).toBe('yes');
      expect(await page.locator(`tr[data-point="${firstPoint}"] td[data-label="Encrypted"]`).textContent()).toBe('no');
      // A protected point cannot be forgotten: not offered.
      expect(await page.getByRole('button', { name: `Forget point ${firstPoint}` }).count()).toBe(0);

      // Forget asks; Cancel (focused first, Escape too) changes nothing.
      await page.getByRole('button', { name: `Forget point ${newest}` }).click();
      const dialog = page.getByRole('dialog', { name: `Forget point ${newest}?` });
      await dialog.waitFor();
      await checkScreen(page, 'confirm', () => dialog.waitFor());
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
      expect((await listBackups(ws.db, 'web')).map((point) => point.id)).toContain(newest);

      await page.getByRole('button', { name: `Forget point ${newest}` }).click();
      await dialog.getByRole('button', { name: 'Forget' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `point ${newest} forgotten` })
        .waitFor({ timeout: 60_000 });
      await expect.poll(() => page.locator(`tr[data-point="${newest}"]`).count()).toBe(0);
      expect((await listBackups(ws.db, 'web')).map((point) => point.id)).not.toContain(newest);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('an operator runs a failover test from the replicas screen and cancels it: the test domain boots, then is gone, the replica unchanged', async () => {
    const { context, page, problems } = await open();
    try {
      await logIn(page, adminSecret);
      await page.getByRole('link', { name: 'Replicas' }).click();
      const card = page.locator('section', { has: page.getByRole('heading', { name: /^app-replica/ }) });
      await card.getByRole('region', { name: 'Points of app-replica' }).waitFor();
      expect(await card.textContent()).toContain(`VM app on this host`);
      await checkScreen(page, 'replicas', () => card.waitFor());
      const replicaFiles = readdirSync(replicaDir).sort();
      const layers = () =>
        execFileSync(
          'qemu-img',
          ['info', '--backing-chain', '--output=json', path.join(replicaDir, 'app-2000.qcow2')],
          { encoding: 'utf8' },
        );
      const before = layers();

      // Asked first; then the task's view, the test domain running.
      await page.getByRole('button', { name: 'Failover test of app-replica' }).focus();
      await page.keyboard.press('Enter');
      const dialog = page.getByRole('dialog', { name: 'Test failover of app-replica?' });
      await dialog.waitFor();
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
      await dialog.getByRole('button', { name: 'Start the test' }).click();
      await page.waitForURL(/\/tasks\/task-/);
      const running = page.getByText(new RegExp(`${REPLICA_DOMAIN}-test runs on this host`));
      await running.waitFor({ timeout: 120_000 });
      expect(virshResult('domstate', `${REPLICA_DOMAIN}-test`).stdout.trim()).toBe('running');
      await checkScreen(page, 'failover-test', () => running.waitFor());

      // Cancel (Ctrl+C for the task): the test domain is destroyed, its overlays removed.
      await page.getByRole('button', { name: /^Cancel/ }).click();
      await page
        .getByRole('dialog', { name: 'Cancel this task?' })
        .getByRole('button', { name: 'Cancel the task' })
        .click();
      const ended = page.getByText(new RegExp(`${REPLICA_DOMAIN}-test destroyed, its overlays removed`));
      await ended.waitFor({ timeout: 120_000 });
      expect(virshResult('domstate', `${REPLICA_DOMAIN}-test`).status).not.toBe(0);
      expect(readdirSync(replicaDir).sort()).toEqual(replicaFiles);
      expect(layers()).toBe(before);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('an audit token is offered no action and no files; a typed URL reaches nothing', async () => {
    const { context, page, problems } = await open(WIDTHS[0]);
    try {
      await logIn(page, auditSecret);
      expect(await page.getByText('auditor (audit)').count()).toBe(1);
      await page.goto(`${base}/plans`);
      await page.getByRole('region', { name: 'Plans' }).waitFor();
      expect(await page.getByRole('button', { name: /^(Run now|Dry-run)/ }).count()).toBe(0);
      await page.goto(`${base}/backups/web`);
      await page
        .getByRole('region', { name: /^Points of chain/ })
        .first()
        .waitFor();
      expect(await page.locator('td.actions').first().textContent()).toBe('');
      expect(await page.getByRole('link', { name: /^Files/ }).count()).toBe(0);
      expect(await page.getByRole('button', { name: /^(Verify|Protect|Unprotect|Forget)/ }).count()).toBe(0);
      await checkScreen(page, 'audit-vm', () =>
        page
          .getByRole('region', { name: /^Points of chain/ })
          .first()
          .waitFor(),
      );

      // Typing the files screen's URL: the console says why and asks the API nothing.
      await page.goto(`${base}/points/${firstPoint}/files?path=${encodeURIComponent('root:/etc')}`);
      await page.getByRole('alert').waitFor();
      expect(await page.getByRole('alert').textContent()).toMatch(/audit role may not read guest data/);
      expect(await page.getByRole('table').count()).toBe(0);
      await checkScreen(page, 'audit-files', () => page.getByRole('alert').waitFor());

      // The API itself refuses the session: guest data, and actions even with the CSRF token.
      const refused = await page.evaluate(
        async ({ point, paths }) => {
          const session = (await (await fetch('/api/v1/session')).json()) as { csrf: string };
          const headers = { 'x-csrf-token': session.csrf };
          const statuses: number[] = [];
          for (const url of paths) statuses.push((await fetch(url.replace(':id', point))).status);
          statuses.push((await fetch(`/api/v1/backups/${point}/protect`, { method: 'POST', headers })).status);
          statuses.push((await fetch(`/api/v1/backups/${point}/forget`, { method: 'POST', headers })).status);
          statuses.push((await fetch('/api/v1/plans/web-nightly/run', { method: 'POST', headers })).status);
          return statuses;
        },
        {
          point: firstPoint,
          paths: [
            '/api/v1/backups/:id/files',
            '/api/v1/backups/:id/files/download?path=root:/etc/hostname',
            '/api/v1/backups/:id/files/archive?path=root:/etc',
          ],
        },
      );
      expect(refused).toEqual([403, 403, 403, 403, 403, 403]);
      expect((await listBackups(ws.db, 'web')).find((point) => point.id === firstPoint)?.protected).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
