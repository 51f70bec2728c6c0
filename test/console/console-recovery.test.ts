// Serve, recover, failover test and failback from the web console (docs/console.md#screens) in a
// real browser (Debian's Chromium) against a real `sendense-run api`, a real point and real plans:
// each button is offered only where the role allows it (restore: none; operator: all but Failback;
// admin: Failback too); Serve starts `serve` as a task whose page
// shows the disk's NBD URL live and whose Cancel gives everything back (doctor finds nothing);
// Failover test and Failback start their commands as tasks whose pages show how they ended; Recover
// asks first. Screenshots at a phone's width and a desktop's land in test-artifacts/console/.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

const ws = useRunWorkspace('console-recovery-', { per: 'file' });
let server: ConsoleServer | undefined;
let browser: Browser | undefined;
const secrets: Record<'restore' | 'operator' | 'admin', string> = { restore: '', operator: '', admin: '' };
let point = '';

beforeAll(async () => {
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  const ports = portRangeForTestFile(10);
  const disk = createDisk(path.join(ws.dir, 'web0.qcow2'), 16 * 1024 * 1024);
  writeDisk(disk, ['write -P 0x41 0 2M']);
  const plan = writePlan(plans, {
    name: 'web-nightly',
    vm: 'web',
    disks: [{ key: 2000, path: disk }],
    repository: ws.repository,
    ports,
  });
  const ran = await sendenseRun([plan, '--db', ws.db]);
  expect(ran.exitCode, ran.stderr).toBe(0);
  point = (await listBackups(ws.db, 'web'))[0]!.id;
  // A recover plan and a replicate plan of the same VM, on libvirt's test driver (nothing is started).
  writeFileSync(
    path.join(plans, 'web-recover.yaml'),
    `version: 1\nkind: recover\nname: web-recover\nvm: { name: web }\nrecover:\n  point: latest\n  to: { type: libvirt, uri: 'test:///default', domain: web-recovered, storage: '${ws.dir}/web-recovered-{key}.qcow2' }\n  start: true\nrepository: { path: '${ws.repository}' }\n`,
  );
  writeFileSync(
    path.join(plans, 'web-replicate.yaml'),
    `version: 1\nkind: replicate\nname: web-replicate\nvm: { name: web, source: { type: libvirt, domain: web, uri: 'test:///default' } }\nreplica: { path: '${ws.dir}/web-replica-{key}.qcow2', points: 2, domain: web-replica, uri: 'test:///default' }\nnbd: { ports: '${ports[0]}-${ports[1]}' }\n`,
  );
  for (const role of ['restore', 'operator', 'admin'] as const) secrets[role] = await tokenSecret(ws.db, role, role);
  server = await startConsoleServer(plans, ws.db);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const logIn = (page: Page, secret: string) => logInAt(page, server!.base, secret);

async function vmPage(page: Page): Promise<void> {
  await page.goto(`${server!.base}/backups/web`);
  await page
    .getByRole('region', { name: /^Points of chain/ })
    .first()
    .waitFor();
}

const button = (page: Page, name: string | RegExp) => page.getByRole('button', { name });

async function taskEnd(page: Page): Promise<string> {
  await page.waitForURL(/\/tasks\/task-/);
  const end = page.locator('p.task-head').filter({ hasText: 'ended' });
  await end.waitFor({ timeout: 120_000 });
  return (await page.locator('main').textContent()) ?? '';
}

describe('serve, recover, failover test and failback from the console', () => {
  it('a restore token is offered none of them; an operator Serve, Recover (asked first) and Failover test, not Failback', async () => {
    const { context, page } = await openSession(browser!, WIDTHS[1]);
    try {
      await logIn(page, secrets.restore);
      await vmPage(page);
      expect(await page.getByRole('link', { name: `Restore point ${point}` }).count()).toBe(1);
      expect(await button(page, /^Serve/).count()).toBe(0);
      expect(await button(page, /^Recover/).count()).toBe(0);
      expect(await button(page, /^Failover test/).count()).toBe(0);
      expect(await button(page, /^Failback/).count()).toBe(0);
    } finally {
      await context.close();
    }
    const operator = await openSession(browser!, WIDTHS[1]);
    try {
      await logIn(operator.page, secrets.operator);
      await vmPage(operator.page);
      expect(await button(operator.page, `Serve point ${point}`).count()).toBe(1);
      expect(await button(operator.page, 'Failover test of plan web-replicate').count()).toBe(1);
      expect(await button(operator.page, /^Failback/).count()).toBe(0);
      // Recover asks first (it starts a domain); Cancel starts nothing.
      await button(operator.page, 'Recover with plan web-recover').click();
      const dialog = operator.page.getByRole('dialog');
      await dialog.waitFor();
      expect(await dialog.textContent()).toContain('Run recover plan web-recover?');
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      expect(operator.page.url()).toMatch(/\/backups\/web$/);
    } finally {
      await operator.context.close();
    }
  }, 120_000);

  it('Serve starts a task that shows the NBD URL live; Cancel gives everything back', async () => {
    const { context, page, problems } = await openSession(browser!, WIDTHS[1]);
    try {
      await logIn(page, secrets.operator);
      await vmPage(page);
      await checkScreen(page, 'vm-recovery-actions', () => button(page, `Serve point ${point}`).waitFor());
      // At 1280 px the point's six actions stand on one line, and its table needs no sideways scroll.
      await page.setViewportSize({ width: 1280, height: 800 });
      const cell = page.locator(`tr[data-point="${point}"] td.actions`);
      const tops = await cell
        .locator('a, button')
        .evaluateAll((all) => all.map((one) => one.getBoundingClientRect().top));
      expect(tops.length).toBe(6);
      expect(new Set(tops).size, `the actions' lines: ${tops.join(', ')}`).toBe(1);
      const box = page.locator('.table-box').filter({ has: page.locator(`tr[data-point="${point}"]`) });
      expect(await box.evaluate((one) => one.scrollWidth <= one.clientWidth + 1), 'the table scrolls sideways').toBe(
        true,
      );
      await button(page, `Serve point ${point}`).click();
      await page.waitForURL(/\/tasks\/task-/);
      // The URL is a socket path: behind the Details toggle.
      const url = page.locator('ul.log li').filter({ hasText: /^disk 2000: / });
      await url.waitFor({ timeout: 120_000 });
      expect(await page.locator('p.task-head').textContent()).toMatch(/running/);
      await button(page, 'Details').click();
      expect(await url.textContent()).toMatch(/^disk 2000: nbd\+unix:\/\/\/\S+\?socket=\//);
      await checkScreen(page, 'serve-task', () => url.waitFor());

      await button(page, 'Cancel').click();
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel the task' }).click();
      // serve stopped as Ctrl+C stops it: it ends succeeded, having given everything back.
      const ended = await taskEnd(page);
      expect(ended).toMatch(/succeeded started/);
      expect(ended).toContain(`stopped serving point ${point}: its exports ended, everything given back`);
      const doctor = await sendenseRun(['--db', ws.db, 'doctor']);
      expect(doctor.stdout + doctor.stderr).toContain('doctor: nothing left behind');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 300_000);

  it('an operator runs a failover test (no Failback offered); an admin a failback; each task shows its end', async () => {
    const { context, page } = await openSession(browser!, WIDTHS[1]);
    try {
      await logIn(page, secrets.operator);
      await vmPage(page);
      expect(await button(page, /^Failback/).count()).toBe(0);
      await button(page, 'Failover test of plan web-replicate').click();
      expect(await taskEnd(page)).toContain('plan web-replicate has no complete replica point yet');
      await checkScreen(page, 'failover-test-task', () => page.locator('p.task-head').waitFor());
    } finally {
      await context.close();
    }
    const admin = await openSession(browser!, WIDTHS[1]);
    try {
      await logIn(admin.page, secrets.admin);
      await vmPage(admin.page);
      await button(admin.page, 'Failback of plan web-replicate').click();
      const dialog = admin.page.getByRole('dialog');
      await dialog.getByRole('button', { name: 'Fail back' }).click();
      expect(await taskEnd(admin.page)).toContain(
        'plan web-replicate is not failed over: there is nothing to fail back',
      );
    } finally {
      await admin.context.close();
    }
  }, 300_000);
});
