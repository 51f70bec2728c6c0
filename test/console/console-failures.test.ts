// Acknowledged failures, suspect points, charts and the task page in the console (docs/console.md),
// in Debian's Chromium against a real `sendense-run api` over a real state database and
// repository: a plan that failed three times (its disk is gone) and a VM whose last incremental
// is suspect (8 MiB of random data after three quiet days). `sendense-run ack` and the console's
// Acknowledge take a failure out of `status`'s exit code and the dashboard's open count; Clear
// releases a suspect point's clean points; the charts draw from GET /api/v1/trends; a run's task
// page lists its steps before the run has said anything. Screenshots of each new screen at
// 1280x800 and 390x844 land in test-artifacts/console/.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { fullBy } from '../../console/src/format.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import {
  ARTIFACTS,
  checkScreen,
  launchChromium,
  logIn as logInAt,
  openSession,
  startConsoleServer,
  tokenSecret,
  type ConsoleServer,
} from './browser.js';

const ws = useRunWorkspace('console-failures-', { per: 'file' });
const ports = portRangeForTestFile(30);
// The sizes this issue names: a laptop's 1280x800 and a phone's 390x844.
const SIZES = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
] as const;
let server: ConsoleServer | undefined;
let base = '';
let browser: Browser | undefined;
let operatorSecret = '';
let auditSecret = '';
let webPlan = '';
let dbPlan = '';
let suspectPoint = '';

interface HistoryLine {
  readonly id: string;
  readonly status: string;
  readonly acknowledgedBy: string | null;
  readonly acknowledgedAt: string | null;
}

interface PointLine {
  readonly id: string;
  readonly suspect: string | null;
  readonly suspectClearedBy: string | null;
  readonly heldBy: string | null;
}

async function history(plan: string): Promise<HistoryLine[]> {
  const listed = await sendenseRun(['history', '--plan', plan, '--json', '--db', ws.db]);
  expect(listed.exitCode, listed.stderr).toBe(0);
  return listed.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as HistoryLine);
}

const points = async () => (await listBackups(ws.db, 'web')) as unknown as PointLine[];

beforeAll(async () => {
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  const disk = createDisk(path.join(ws.dir, 'web0.qcow2'), 32 * 1024 * 1024);
  writeDisk(disk, ['write -P 0x41 0 2M']);
  webPlan = writePlan(plans, {
    name: 'web-nightly',
    vm: 'web',
    disks: [{ key: 2000, path: disk }],
    repository: ws.repository,
    ports: [ports[0], ports[0] + 9],
    retention: { keepLast: 2 },
  });
  // The least history the schema allows before a point can be marked suspect.
  writeFileSync(
    webPlan,
    stringify({ ...(parse(readFileSync(webPlan, 'utf8')) as Record<string, unknown>), anomaly: { learn: 3 } }),
  );
  dbPlan = writePlan(plans, {
    name: 'db-nightly',
    vm: 'db',
    disks: [{ key: 2000, path: path.join(ws.dir, 'gone.qcow2') }],
    repository: ws.repository,
    ports: [ports[0] + 10, ports[0] + 19],
  });
  const run = async (plan: string, exitCode: number) => {
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(exitCode);
  };
  await run(webPlan, 0);
  // Three quiet days (a little text-like data), then 8 MiB of random data: far outside on both.
  for (let day = 1; day <= 3; day++) {
    writeDisk(disk, [`write -P 0x${(0x41 + day).toString(16)} ${day}M 64k`]);
    await run(webPlan, 0);
  }
  const random = path.join(ws.dir, 'random.bin');
  writeFileSync(random, randomBytes(8 * 1024 * 1024));
  writeDisk(disk, [`write -s ${random} 8M 8M`]);
  await run(webPlan, 0);
  for (let i = 0; i < 3; i++) await run(dbPlan, 1);
  const suspect = (await points()).filter((point) => point.suspect !== null);
  expect(suspect, 'the random day is marked suspect').toHaveLength(1);
  suspectPoint = suspect[0].id;
  operatorSecret = await tokenSecret(ws.db, 'lead', 'operator');
  auditSecret = await tokenSecret(ws.db, 'auditor', 'audit');
  server = await startConsoleServer(plans, ws.db);
  base = server.base;
  browser = await launchChromium();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function open(secret: string): Promise<{ page: Page; problems: string[]; close: () => Promise<void> }> {
  const { context, page, problems } = await openSession(browser!);
  await page.setViewportSize({ width: 1280, height: 800 });
  await logInAt(page, base, secret);
  return { page, problems, close: () => context.close() };
}

// Each new screen at 1280x800 and 390x844: axe-core and no sideways scroll (checkScreen), and a
// screenshot under those sizes' names.
async function screens(page: Page, name: string, ready: () => Promise<unknown>): Promise<void> {
  await checkScreen(page, name, ready);
  for (const size of SIZES) {
    await page.setViewportSize({ width: size.width, height: size.height });
    await ready();
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${size.width}x${size.height}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

describe('failures, suspect points, charts and the task page in the console', () => {
  it('`ack RUN` records who and when; status no longer exits 1 for that failure, history keeps it failed', async () => {
    const before = await sendenseRun(['status', dbPlan, '--db', ws.db]);
    expect(before.exitCode, before.stdout).toBe(1);
    const [newest, , oldest] = await history('db-nightly');
    // A run that did not fail is not acknowledged: one line, exit 2.
    const succeeded = (await history('web-nightly'))[0];
    const refused = await sendenseRun(['ack', succeeded.id, '--db', ws.db]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(`run ${succeeded.id} of plan web-nightly is succeeded, not failed`);
    expect(refused.stderr).not.toMatch(/\n\s+at /);

    const ack = await sendenseRun(['ack', newest.id, '--db', ws.db]);
    expect(ack.exitCode, ack.stderr).toBe(0);
    expect(ack.stdout).toMatch(new RegExp(`^run ${newest.id} of plan db-nightly: acknowledged by \\S+ at `));
    // Again, with --json: one line, the first acknowledgement standing.
    const again = await sendenseRun(['ack', newest.id, '--json', '--db', ws.db]);
    expect(again.exitCode, again.stderr).toBe(0);
    const line = JSON.parse(again.stdout) as Record<string, unknown>;
    expect(Object.keys(line).filter((key) => key !== 'time')).toEqual(['type', 'runId', 'plan', 'by', 'at', 'changed']);
    expect(line).toMatchObject({ type: 'acknowledged', runId: newest.id, plan: 'db-nightly', changed: false });
    const after = await sendenseRun(['status', dbPlan, '--db', ws.db]);
    expect(after.exitCode, after.stdout).toBe(0);
    expect(after.stdout).toMatch(/db-nightly: run .* failed at .*\(acknowledged by \S+\)/);
    const runs = await history('db-nightly');
    expect(runs.map((run) => run.status)).toEqual(['failed', 'failed', 'failed']);
    expect(runs[0].acknowledgedBy).not.toBeNull();
    expect(runs[0].acknowledgedAt).not.toBeNull();
    expect(runs.find((run) => run.id === oldest.id)?.acknowledgedBy).toBeNull();
  });

  it('the dashboard counts failures per plan and links to them; Acknowledge there takes one out of the open count', async () => {
    const { page, problems, close } = await open(operatorSecret);
    try {
      const card = page.locator('section', { has: page.getByRole('heading', { name: 'Failures of the last 7 days' }) });
      await card.getByRole('link', { name: 'db-nightly' }).waitFor();
      // Counts, not every error: one line for the plan, no error text.
      expect((await card.textContent())?.replace(/\s+/g, ' ')).toContain('db-nightly: 2 open, 1 acknowledged');
      expect(await card.textContent()).not.toContain('gone.qcow2');
      const height = await card.evaluate((element) => element.getBoundingClientRect().height);
      expect(height, 'the card stays a few lines tall').toBeLessThan(250);
      // A repository that fills more slowly than 10 years says so, not a date decades away.
      const repositories = page.locator('.table-box[aria-label="Repositories"]');
      expect(await repositories.textContent()).toContain('more than 10 years');
      await screens(page, 'dashboard-failures', () => card.getByRole('link', { name: 'db-nightly' }).waitFor());

      await card.getByRole('link', { name: 'db-nightly' }).click();
      await page.getByRole('heading', { level: 1, name: 'Failures of plan db-nightly' }).waitFor();
      const open = (await history('db-nightly')).filter((run) => run.acknowledgedBy === null);
      expect(open).toHaveLength(2);
      const button = page.getByRole('button', { name: `Acknowledge run ${open[0].id}` });
      await screens(page, 'failures', () => button.waitFor());
      await button.click();
      await page
        .getByRole('status')
        .filter({ hasText: `run ${open[0].id} of plan db-nightly acknowledged by token lead` })
        .waitFor();
      expect((await history('db-nightly')).find((run) => run.id === open[0].id)?.acknowledgedBy).toBe('token lead');
      expect(await page.locator(`tr[data-run="${open[0].id}"] td[data-label="Acknowledged"]`).textContent()).toMatch(
        /^by token lead /,
      );

      await page.getByRole('link', { name: 'Dashboard' }).first().click();
      await expect
        .poll(async () => (await card.textContent())?.replace(/\s+/g, ' '))
        .toContain('db-nightly: 1 open, 2 acknowledged');
      expect(problems).toEqual([]);
    } finally {
      await close();
    }
  });

  it('a suspect point is marked with its reasons; Clear releases the clean points it kept, said who', async () => {
    const { page, problems, close } = await open(operatorSecret);
    try {
      const held = (await points()).filter((point) => point.heldBy === suspectPoint).map((point) => point.id);
      expect(held.length).toBeGreaterThan(0);
      await page.goto(`${base}/backups/web`);
      const row = page.locator(`tr[data-point="${suspectPoint}"]`);
      await row.waitFor();
      const status = row.locator('td[data-label="Status"]');
      expect(await status.locator('.badge.suspect').textContent()).toBe('suspect');
      expect(await status.textContent()).toMatch(/changed [\d.]+x the median of the last 3/);
      expect(await status.textContent()).toMatch(/\d+% of sampled changed blocks incompressible/);
      expect(await page.locator(`tr[data-point="${held[0]}"] td[data-label="Protected"]`).textContent()).toContain(
        `kept for suspect ${suspectPoint}`,
      );
      const clear = page.getByRole('button', { name: `Clear suspect point ${suspectPoint}` });
      await screens(page, 'suspect-point', () => clear.waitFor());
      // Every action fits a 1280 px screen: the points table does not scroll sideways.
      const table = page.getByRole('region', { name: /^Points of chain/ }).first();
      const widths = await table.evaluate((box) => [box.scrollWidth, box.clientWidth]);
      expect(widths[0], `the points table is ${widths[0]} px wide in a box of ${widths[1]}`).toBeLessThanOrEqual(
        widths[1] + 1,
      );

      await clear.click();
      const dialog = page.getByRole('dialog', { name: `Clear suspect point ${suspectPoint}?` });
      await dialog.getByRole('button', { name: 'Clear' }).click();
      const notice = page
        .getByRole('status')
        .filter({ hasText: `point ${suspectPoint} cleared by token lead; released` });
      await notice.waitFor();
      for (const id of held) expect(await notice.textContent()).toContain(id);
      const after = await points();
      expect(after.find((point) => point.id === suspectPoint)?.suspectClearedBy).toBe('token lead');
      expect(after.filter((point) => point.heldBy !== null)).toEqual([]);
      await expect.poll(() => status.textContent()).toMatch(/cleared by token lead/);
      expect(await clear.count()).toBe(0);
      expect(problems).toEqual([]);
    } finally {
      await close();
    }
  });

  it('an audit token is offered neither Acknowledge nor Clear, and the API refuses both', async () => {
    const { page, problems, close } = await open(auditSecret);
    try {
      await page.goto(`${base}/failures`);
      await page.getByRole('region', { name: 'Failed runs' }).waitFor();
      expect(await page.getByRole('button', { name: /^Acknowledge/ }).count()).toBe(0);
      expect(await page.getByText('open', { exact: true }).count()).toBeGreaterThan(0);
      const [run] = (await history('db-nightly')).filter((line) => line.acknowledgedBy === null);
      const statuses = await page.evaluate(
        async ({ run, point }) => {
          const session = (await (await fetch('/api/v1/session')).json()) as { csrf: string };
          const headers = { 'x-csrf-token': session.csrf };
          return [
            (await fetch(`/api/v1/runs/${run}/ack`, { method: 'POST', headers })).status,
            (await fetch(`/api/v1/backups/${point}/clear`, { method: 'POST', headers })).status,
          ];
        },
        { run: run.id, point: suspectPoint },
      );
      expect(statuses).toEqual([403, 403]);
      expect((await history('db-nightly')).find((line) => line.id === run.id)?.acknowledgedBy).toBeNull();
      expect(problems).toEqual([]);
    } finally {
      await close();
    }
  });

  it("the charts draw each repository's use and each plan's runs from the trends route", async () => {
    const { page, problems, close } = await open(auditSecret);
    try {
      await page.getByRole('link', { name: 'Charts' }).click();
      await page.getByRole('heading', { level: 1, name: 'Charts' }).waitFor();
      const escaped = ws.repository.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const repository = page.getByRole('img', { name: new RegExp(`^${escaped}: \\d+ points, `) });
      await repository.waitFor();
      const runs = page.getByRole('img', { name: /^web-nightly: 5 runs, the longest / });
      await runs.waitFor();
      expect(await page.getByRole('img', { name: /^db-nightly: 3 runs/ }).count()).toBe(1);
      // Drawn: a canvas of the chart's width in each figure.
      for (const figure of [repository, runs])
        expect(await figure.locator('canvas').evaluate((canvas: HTMLCanvasElement) => canvas.width)).toBeGreaterThan(
          100,
        );
      const trends = (await page.evaluate(async () => (await fetch('/api/v1/trends')).json())) as {
        plans: { plan: string; runs: { seconds: number; bytes: number | null }[] }[];
      };
      expect(trends.plans.find((plan) => plan.plan === 'web-nightly')?.runs).toHaveLength(5);
      await screens(page, 'charts', () => runs.waitFor());
      expect(problems).toEqual([]);
    } finally {
      await close();
    }
  });

  it("a run's task page lists the plan's steps before the run's first event; details are behind a toggle", async () => {
    const { page, problems, close } = await open(operatorSecret);
    try {
      // The events are held back until the steps are seen: what shows comes from the plan alone.
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      await page.route('**/api/v1/tasks/*/events', async (route) => {
        await held;
        await route.continue();
      });
      await page.goto(`${base}/plans`);
      await page.getByRole('button', { name: 'Run now web-nightly' }).click();
      await page.waitForURL(/\/tasks\/task-/);
      const steps = page.locator('ol.steps li');
      await steps.first().waitFor();
      const listed = await steps.allTextContents();
      for (const step of ['resolve-chain', 'transfer', 'anomaly-check', 'retention'])
        expect(
          listed.some((text) => text.endsWith(`waiting: ${step}`)),
          `${step} in ${listed.join(' | ')}`,
        ).toBe(true);
      expect(await page.locator('p.end').count()).toBe(0);
      await screens(page, 'task-steps-at-once', () => steps.first().waitFor());
      release();

      const end = page.locator('p.end');
      await end.waitFor({ timeout: 60_000 });
      // The bitmap name of snapshot-source's summary is a detail: "…" until Details is pressed.
      const snapshot = steps.filter({ hasText: 'snapshot-source' });
      expect(await snapshot.textContent()).toMatch(/done: snapshot-source: 2000: …/);
      expect(await page.locator('ol.steps').textContent()).not.toMatch(/sendense-\d{8}/);
      const details = page.getByRole('button', { name: 'Details' });
      expect(await details.getAttribute('aria-pressed')).toBe('false');
      await details.click();
      expect(await snapshot.textContent()).toMatch(/2000: sendense-\d{8}-\d{6}-[0-9a-f]+-\d{8}-\d{6}-[0-9a-f]+/);
      expect(await details.getAttribute('aria-pressed')).toBe('true');
      expect(problems).toEqual([]);
    } finally {
      await close();
    }
  });

  it('"full by" says "more than 10 years" past 10 years, the date before', () => {
    const now = Date.parse('2026-11-27T20:00:00Z');
    expect(fullBy('2074-03-01T00:00:00Z', now)).toBe('more than 10 years');
    expect(fullBy('2030-03-01T12:00:00Z', now)).toMatch(/^2030-03-0[12] \d\d:\d\d$/);
    expect(fullBy(null, now)).toBe('-');
  });
});
