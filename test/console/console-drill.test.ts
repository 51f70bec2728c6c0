// A VM's last drill on its page of the web console (docs/console.md#screens, docs/drills.md) in a
// real browser (Debian's Chromium, playwright-core) against a real `sendense-run api`: the outcome,
// each check with its status and time, the recovery time, and the guest's screenshot, which the
// browser loads from the API for a restore token and which an audit token is not shown. The
// drill is recorded straight into the real state database through the store (what a drill run
// writes when it ends), not by booting a guest. Screenshots at a phone's width and a desktop's
// land in test-artifacts/console/ (gitignored).

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { screenshotPng } from '../../src/kinds/drill/png.js';
import { openStore } from '../../src/store/index.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { writePlan } from '../support/sendense-cli.js';
import {
  checkScreen,
  launchChromium,
  logIn,
  openSession,
  startConsoleServer,
  tokenSecret,
  WIDTHS,
  type ConsoleServer,
} from './browser.js';

const ws = useRunWorkspace('console-drill-', { per: 'file' });
let server: ConsoleServer | undefined;
let browser: Browser | undefined;
let restoreSecret = '';
let auditSecret = '';

// A 3x2 image as QEMU's screendump writes it (PPM), kept by the drill as PNG.
const PPM = Buffer.concat([Buffer.from('P6\n3 2\n255\n'), Buffer.alloc(18, 0x80)]);

beforeAll(async () => {
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  writePlan(plans, {
    name: 'web-nightly',
    vm: 'web',
    disks: [{ key: 1, path: path.join(ws.dir, 'web.qcow2') }],
    repository: ws.repository,
    ports: [1, 2],
  });
  restoreSecret = await tokenSecret(ws.db, 'restorer', 'restore');
  auditSecret = await tokenSecret(ws.db, 'auditor', 'audit');
  const store = await openStore(ws.db);
  await store.recordDrill({
    runId: 'run-drill-1',
    plan: 'web-drill',
    vm: 'web',
    repository: ws.repository,
    backupId: 'point-1',
    startedAt: '2026-11-27T02:00:00.000Z',
    endedAt: '2026-11-27T02:01:10.000Z',
    outcome: 'failed',
    bootSeconds: 4,
    heartbeatSeconds: 42,
    checks: [
      { check: 'boot', status: 'passed', seconds: 4, detail: 'the domain runs' },
      { check: 'heartbeat', status: 'passed', seconds: 38, detail: 'console: login:' },
      { check: 'screenshot', status: 'passed', seconds: 1, detail: '3x2 PNG' },
      { check: 'command', status: 'failed', seconds: 7, detail: 'systemctl is-active nginx exited 3' },
    ],
    screenshotPng: screenshotPng(PPM).toString('base64'),
    consoleTail: null,
  });
  await store.close();
  server = await startConsoleServer(plans, ws.db);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

it("a restore token sees the VM's last drill: outcome, checks, recovery time and the guest's screenshot", async () => {
  const { context, page, problems } = await openSession(browser!, WIDTHS[1]);
  try {
    await logIn(page, server!.base, restoreSecret);
    await page.goto(`${server!.base}/backups/web`);
    const card = page.locator('section', { has: page.getByRole('heading', { name: 'Last drill' }) });
    await card.waitFor();
    expect(await card.locator('p').first().textContent()).toMatch(/^failed point point-1, plan web-drill/);
    expect(await card.locator('.recovery').textContent()).toBe('42 s');
    const rows = await card.getByRole('region', { name: 'Checks of the last drill' }).locator('tbody tr').all();
    const seen = await Promise.all(rows.map(async (row) => (await row.innerText()).replace(/\s+/g, ' ').trim()));
    expect(seen).toEqual([
      'boot passed 4 s the domain runs',
      'heartbeat passed 38 s console: login:',
      'screenshot passed 1 s 3x2 PNG',
      'command failed 7 s systemctl is-active nginx exited 3',
    ]);
    const image = card.getByRole('img', { name: "The guest's screen in drill run-drill-1" });
    await image.waitFor();
    await page.waitForFunction(() => (document.querySelector('img.drill-screenshot') as HTMLImageElement)?.complete);
    expect(await image.evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight])).toEqual([3, 2]);
    await checkScreen(page, 'vm-last-drill', () => image.waitFor());
    expect(problems).toEqual([]);
  } finally {
    await context.close();
  }
}, 120_000);

it('an audit token sees the drill and its checks but not the screenshot', async () => {
  const { context, page } = await openSession(browser!, WIDTHS[0]);
  try {
    await logIn(page, server!.base, auditSecret);
    await page.goto(`${server!.base}/backups/web`);
    const card = page.locator('section', { has: page.getByRole('heading', { name: 'Last drill' }) });
    await card.getByRole('region', { name: 'Checks of the last drill' }).waitFor();
    expect(await card.locator('tbody tr').count()).toBe(4);
    expect(await page.locator('img').count()).toBe(0);
  } finally {
    await context.close();
  }
}, 120_000);
