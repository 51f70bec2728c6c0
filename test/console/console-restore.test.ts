// Restoring a point from the web console (docs/console.md#screens) in a real browser (Debian's
// Chromium, playwright-core) against a real `sendense-run api` and a real point: the Restore action
// of a point opens a form (disks, target, format, overwrite, verify), which starts the API's
// ad-hoc restore and follows its task to the end; the restored image holds the point's bytes. The
// same target again is refused with the API's message and the overwrite box marked; ticking it
// replaces the file. A new libvirt domain as the target: a bad name marked, a point without domain
// XML refused by its task. An audit token is offered no Restore. Screenshots of the form and its task at
// a phone's width and a desktop's land in test-artifacts/console/ (gitignored).

import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imagesEqual } from '../support/images.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, keepCopy, mtimeMs, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
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

const ws = useRunWorkspace('console-restore-', { per: 'file' });
let server: ConsoleServer | undefined;
let browser: Browser | undefined;
let restoreSecret = '';
let auditSecret = '';
let operatorSecret = '';
let point = '';
let atBackup = '';

beforeAll(async () => {
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  const disk = createDisk(path.join(ws.dir, 'web0.qcow2'), 16 * 1024 * 1024);
  writeDisk(disk, ['write -P 0x41 0 2M', 'write -P 0x17 9M 1M']);
  const plan = writePlan(plans, {
    name: 'web-nightly',
    vm: 'web',
    disks: [{ key: 2000, path: disk }],
    repository: ws.repository,
    ports: portRangeForTestFile(10),
  });
  const ran = await sendenseRun([plan, '--db', ws.db]);
  expect(ran.exitCode, ran.stderr).toBe(0);
  point = (await listBackups(ws.db, 'web'))[0]!.id;
  atBackup = keepCopy(disk, path.join(ws.dir, 'web0-at-backup.qcow2'));
  // The source moves on: the restore must give the point's bytes.
  writeDisk(disk, ['write -P 0x42 0 1M']);
  restoreSecret = await tokenSecret(ws.db, 'restorer', 'restore');
  auditSecret = await tokenSecret(ws.db, 'auditor', 'audit');
  operatorSecret = await tokenSecret(ws.db, 'operator', 'operator');
  server = await startConsoleServer(plans, ws.db);
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const logIn = (page: Page, secret: string) => logInAt(page, server!.base, secret);

// The form filled for a directory target, then submitted; the task page's last line once it ends.
async function restoreInto(page: Page, dir: string): Promise<void> {
  await page.getByLabel('Target').selectOption('directory');
  await page.getByLabel('Directory').fill(dir);
  await page.getByRole('button', { name: 'Restore' }).click();
}

async function taskEnd(page: Page): Promise<string> {
  await page.waitForURL(/\/tasks\/task-/);
  const end = page.locator('p.end');
  await end.waitFor({ timeout: 120_000 });
  return (await end.textContent()) ?? '';
}

describe('restore from the console', () => {
  it('a restore token restores a point into a directory, is refused the same target again, and replaces it with overwrite', async () => {
    const { context, page, problems } = await openSession(browser!, WIDTHS[1]);
    try {
      await logIn(page, restoreSecret);
      await page.goto(`${server!.base}/backups/web`);
      const action = page.getByRole('link', { name: `Restore point ${point}` });
      await action.click();
      await page.getByRole('heading', { level: 1, name: `Restore point ${point}` }).waitFor();
      expect(await page.getByRole('checkbox', { name: 'Disk 2000' }).isChecked()).toBe(true);
      expect(await page.getByRole('checkbox', { name: /^Verify/ }).isChecked()).toBe(true);
      expect(await page.getByRole('checkbox', { name: /^Overwrite/ }).isChecked()).toBe(false);
      await checkScreen(page, 'restore-form', () => page.getByLabel('Target').waitFor());

      const dir = path.join(ws.dir, 'restored');
      const restored = path.join(dir, 'web-2000.qcow2');
      await restoreInto(page, dir);
      expect(await taskEnd(page)).toMatch(new RegExp(`^Run succeeded in [\\d.]+ s, point ${point}`));
      const steps = await page.locator('ol.steps li').allTextContents();
      expect(
        steps.some((step) => /done: verify/.test(step)),
        steps.join('\n'),
      ).toBe(true);
      expect(imagesEqual(restored, atBackup)).toBe(true);
      await checkScreen(page, 'restore-task', () => page.locator('p.end').waitFor());

      // Again to the same directory: the API's refusal shown, the overwrite box marked, nothing changed.
      const before = mtimeMs(restored);
      await page.goto(`${server!.base}/points/${point}/restore`);
      await restoreInto(page, dir);
      const alert = page.getByRole('alert');
      await alert.waitFor();
      expect(await alert.textContent()).toContain(`${restored} for disk 2000 already exists`);
      const overwrite = page.getByRole('checkbox', { name: /^Overwrite/ });
      expect(await overwrite.getAttribute('aria-invalid')).toBe('true');
      expect(page.url()).toMatch(/\/restore$/);
      expect(mtimeMs(restored)).toBe(before);
      await checkScreen(page, 'restore-refused', () => alert.waitFor());

      await overwrite.check();
      await page.getByRole('button', { name: 'Restore' }).click();
      expect(await taskEnd(page)).toMatch(/^Run succeeded/);
      expect(imagesEqual(restored, atBackup)).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 300_000);

  it('offers a new libvirt domain to an operator, not the restore role: a bad name is marked, a point without domain XML ends refused', async () => {
    const restorer = await openSession(browser!, WIDTHS[1]);
    try {
      await logIn(restorer.page, restoreSecret);
      await restorer.page.goto(`${server!.base}/points/${point}/restore`);
      await restorer.page.getByLabel('Target').waitFor();
      expect(await restorer.page.locator('#restore-type option').count()).toBe(3);
      expect(await restorer.page.locator('#restore-type option[value="domain"]').count()).toBe(0);
    } finally {
      await restorer.context.close();
    }
    const { context, page, problems } = await openSession(browser!, WIDTHS[1]);
    try {
      await logIn(page, operatorSecret);
      await page.goto(`${server!.base}/points/${point}/restore`);
      await page.getByLabel('Target').selectOption('domain');
      expect(await page.getByLabel('Image format').count()).toBe(0);
      expect(await page.getByRole('checkbox', { name: /^Overwrite/ }).count()).toBe(0);
      expect(await page.getByLabel('Network').inputValue()).toBe('none');
      expect(await page.getByRole('checkbox', { name: /^Start/ }).isChecked()).toBe(false);
      const dir = path.join(ws.dir, 'domain-images');
      await page.getByLabel('Directory of its disk images').fill(dir);
      await page.getByLabel('Domain name').fill('web copy');
      await page.getByRole('button', { name: 'Restore' }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      expect(await alert.textContent()).toContain('restore.target.domain');
      expect(await page.getByLabel('Domain name').getAttribute('aria-invalid')).toBe('true');

      // The qemu source kept no domain XML with the point: the task says so and writes nothing.
      await page.getByLabel('Domain name').fill('web-copy');
      await page.getByRole('button', { name: 'Restore' }).click();
      expect(await taskEnd(page)).toMatch(/^Run failed/);
      expect(await page.locator('main').textContent()).toContain('has no domain XML stored with it');
      expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 300_000);

  it('an audit token is offered no Restore, and the typed URL says why', async () => {
    const { context, page } = await openSession(browser!, WIDTHS[0]);
    try {
      await logIn(page, auditSecret);
      await page.goto(`${server!.base}/backups/web`);
      await page
        .getByRole('region', { name: /^Points of chain/ })
        .first()
        .waitFor();
      expect(await page.getByRole('link', { name: /^Restore/ }).count()).toBe(0);
      await page.goto(`${server!.base}/points/${point}/restore`);
      await page.getByRole('alert').waitFor();
      expect(await page.getByRole('alert').textContent()).toMatch(/audit role may not restore/);
      expect(await page.getByRole('button', { name: 'Restore' }).count()).toBe(0);
    } finally {
      await context.close();
    }
  }, 120_000);
});
