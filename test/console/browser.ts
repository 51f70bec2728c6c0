// What the console's browser tests share (docs/console.md): a real `sendense-run api` serving the
// built console, Debian's Chromium driven by playwright-core, the keyboard login, and each
// screen checked at a phone's width and a desktop's (axe-core, no sideways scroll, a screenshot
// in test-artifacts/console/).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { freePort } from '../support/free-port.js';
import { waitForProcessGone } from '../support/processes.js';
import { BIN, sendenseRun } from '../support/sendense-cli.js';

const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.resolve('test-artifacts/console');
export const WIDTHS = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'desktop', width: 1280, height: 900 },
] as const;
export type Width = (typeof WIDTHS)[number];
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export async function tokenSecret(db: string, name: string, role: string): Promise<string> {
  const added = await sendenseRun(['token', 'add', name, '--role', role, '--db', db]);
  expect(added.exitCode, added.stderr).toBe(0);
  return added.stdout.trim().split('\n').at(-1)!;
}

export interface ConsoleServer {
  /** http://127.0.0.1:PORT */
  readonly base: string;
  stop(): Promise<void>;
}

// `sendense-run api PLANS` over plain HTTP on a free port of 127.0.0.1, once it says it listens.
export async function startConsoleServer(plans: string, db: string): Promise<ConsoleServer> {
  expect(existsSync(path.resolve('dist/console/index.html')), 'the console is not built: npm run build').toBe(true);
  const port = await freePort();
  const api: ChildProcess = spawn(
    process.execPath,
    [BIN, 'api', plans, '--db', db, '--plain-http', '--listen', `127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stop = async () => {
    if (api.pid !== undefined && api.exitCode === null && api.signalCode === null) {
      api.kill('SIGTERM');
      if (!(await waitForProcessGone(api.pid, 20_000))) api.kill('SIGKILL');
    }
  };
  let said = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const look = (chunk: Buffer) => {
        said += chunk.toString();
        if (said.includes('listening on')) resolve();
      };
      api.stdout!.on('data', look);
      api.stderr!.on('data', (chunk: Buffer) => (said += chunk.toString()));
      api.once('exit', (code) => reject(new Error(`sendense-run api ended (${code}): ${said}`)));
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { base: `http://127.0.0.1:${port}`, stop };
}

export async function launchChromium(): Promise<Browser> {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs chromium`).toBe(true);
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

export interface Session {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Messages the browser logged: a CSP violation or a script error would show here. */
  readonly problems: string[];
}

export async function openSession(browser: Browser, width: Width = WIDTHS[1]): Promise<Session> {
  const context = await browser.newContext({
    viewport: { width: width.width, height: width.height },
    acceptDownloads: true,
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 4\d\d/.test(message.text())) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  return { context, page, problems };
}

// Log in with the keyboard alone: Tab to the token field, type the secret, Enter.
export async function logIn(page: Page, base: string, secret: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('API token').waitFor();
  await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement?.id)).toBe('token');
  await page.keyboard.type(secret);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
}

// axe-core in the page (evaluated, not a <script>: the CSP allows none but the console's own).
async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const result = await (
      window as unknown as {
        axe: { run(): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> };
      }
    ).axe.run();
    return result.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      targets: violation.nodes.map((node) => node.target.join(' ')),
    }));
  });
  return violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.id} (${violation.impact}): ${violation.targets.join(', ')}`);
}

// Each screen at both widths: no serious or critical axe violation, a screenshot kept.
export async function checkScreen(page: Page, name: string, ready: () => Promise<unknown>): Promise<void> {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width: width.width, height: width.height });
    await ready();
    expect(await seriousViolations(page), `${name} at ${width.width} px`).toEqual([]);
    // Readable on a phone: the page itself never scrolls sideways (wide tables scroll in their box).
    expect(
      await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1),
      `${name} at ${width.width} px scrolls sideways`,
    ).toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${width.name}.png`), fullPage: true });
  }
}
