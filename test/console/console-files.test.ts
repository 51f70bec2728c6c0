// The console's Files screen (docs/console.md#screens) in a real browser, on a real GPT + ext4
// guest disk backed up twice (test/files/guest-disk.ts): a restore token goes from the VM's
// points to the point's filesystems and into its directories with the keyboard, downloads a file
// with a non-ASCII name, downloads a folder as a ZIP whose unzipped files are, name for name
// and sha256 for sha256, what `sendense-run files --get` extracts; a folder that is not there
// shows the API's refusal as it is; while the appliance starts, the screen says so and for how
// long. A point of two disks, each a GPT + ext4 guest disk, lists its disks first; the second
// disk's filesystem is browsed, a file and a folder of it downloaded as `files --disk` extracts them. Every screen at 390 and 1280 px (axe-core, screenshots in
// test-artifacts/console/).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  backUpGuest,
  makeGptExt4Disk,
  readTree,
  sendenseFiles,
  writeTree,
  type BackedUpGuest,
  type Tree,
} from '../files/guest-disk.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import {
  checkScreen,
  launchChromium,
  logIn,
  openSession,
  startConsoleServer,
  tokenSecret,
  type ConsoleServer,
} from './browser.js';

const ws = useRunWorkspace('console-files-', { per: 'file' });
let guest: BackedUpGuest;
let server: ConsoleServer | undefined;
let browser: Browser | undefined;
let restoreSecret = '';
let twoDisks: TwoDisks;

interface TwoDisks {
  readonly vm: string;
  readonly point: string;
  /** What each disk's p1 holds, by disk key. */
  readonly trees: Readonly<Record<string, Tree>>;
}

// A VM of two disks (2000 and 2001), each a GPT disk whose p1 is ext4 with its own files, backed up once.
async function backUpTwoDisks(dir: string, ports: readonly [number, number]): Promise<TwoDisks> {
  const vm = 'twodiskvm';
  const specs = {
    2000: { 'boot.txt': { content: 'the first disk\n' } },
    2001: {
      srv: { dir: true, mode: 0o755 },
      'srv/data.csv': { content: 'id,name\n1,alpha\n2,beta\n' },
      'srv/readme.txt': { content: 'the second disk\n' },
    },
  };
  const trees: Record<string, Tree> = {};
  const disks = Object.entries(specs).map(([key, spec]) => {
    const root = path.join(dir, `${vm}-${key}-tree`);
    mkdirSync(root);
    trees[key] = writeTree(root, spec);
    const raw = path.join(dir, `${vm}-${key}.raw`);
    makeGptExt4Disk(raw, root);
    const source = path.join(dir, `${vm}-${key}.qcow2`);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, source]);
    return { key: Number(key), path: source };
  });
  const plan = writePlan(dir, {
    name: `${vm}-backup`,
    kind: 'backup',
    vm,
    disks,
    repository: path.join(dir, 'repository'),
    ports,
  });
  const result = await sendenseRun([plan, '--db', path.join(dir, 'state.db')]);
  if (result.exitCode !== 0) throw new Error(`backup of ${vm} failed:\n${result.stdout}\n${result.stderr}`);
  const [point] = await listBackups(path.join(dir, 'state.db'), vm);
  return { vm, point: point.id, trees };
}

beforeAll(async () => {
  const ports = portRangeForTestFile(10);
  guest = await backUpGuest(ws.dir, 'filesvm', ports);
  twoDisks = await backUpTwoDisks(ws.dir, ports);
  restoreSecret = await tokenSecret(guest.db, 'restorer', 'restore');
  const plans = path.join(ws.dir, 'plans');
  mkdirSync(plans);
  server = await startConsoleServer(plans, guest.db);
  browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

// Follows a link with the keyboard: focused, then Enter.
async function follow(page: Page, name: string): Promise<void> {
  await page.getByRole('link', { name, exact: true }).focus();
  await page.keyboard.press('Enter');
}

// name -> sha256 of each file, the type of anything else (as readTree sees a directory).
function contents(root: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(readTree(root)).map(([name, entry]) => [name, entry.type === 'file' ? entry.sha256! : entry.type]),
  );
}

it("browses a point's filesystems and folders with the keyboard, downloads a file, and a folder as the ZIP `files --get` matches", async () => {
  const { context, page, problems } = await openSession(browser!);
  const point = guest.backups.at(-1)!.id;
  const tree = guest.trees.at(-1)!;
  // What `files --get` extracts, meanwhile (its own appliance): the ZIP is compared with it.
  const extracted = path.join(ws.dir, 'extracted');
  const cli = sendenseFiles([
    'files',
    guest.vm,
    '--db',
    guest.db,
    '--point',
    point,
    '--get',
    'p1:/',
    '--to',
    extracted,
  ]);
  try {
    await logIn(page, server!.base, restoreSecret);
    await follow(page, 'Backups');
    await follow(page, guest.vm);
    await follow(page, `Files of point ${point}`);
    await page.getByRole('heading', { level: 1, name: `Files of point ${point}` }).waitFor();
    await expect.poll(() => page.evaluate(() => document.activeElement?.tagName), { timeout: 10_000 }).toBe('H1');

    // The appliance starting (the API's 202) is said with its age, not a bare "Loading…".
    await page
      .getByRole('status')
      .filter({ hasText: /^starting the file reader \(appliance\), \d+ s$/ })
      .waitFor({ timeout: 60_000 });

    // The point's filesystems: the ext4 partition with its label.
    const filesystems = page.getByRole('region', { name: 'Filesystems' });
    const p1 = filesystems.getByRole('row', { name: /^p1 / });
    await p1.waitFor({ timeout: 300_000 });
    expect(await p1.textContent()).toMatch(/ext4.*guestroot/);
    // A partition without a filesystem is listed, but offers nothing to open.
    expect(await filesystems.getByRole('row', { name: /^p2 / }).textContent()).toContain('no files to browse');
    expect(await filesystems.getByRole('link', { name: 'p2' }).count()).toBe(0);
    await checkScreen(page, 'files-filesystems', () => p1.waitFor());

    // Into p1:/, whose entries are the guest's top folder as it was at the point.
    await follow(page, 'p1');
    const top = page.getByRole('region', { name: 'Entries of p1:/' });
    await top.waitFor();
    const names = (await top.locator('tbody th').allTextContents()).map((name) =>
      name.replace(/\/$/, '').replace(/ → .*$/, ''),
    );
    const expected = Object.keys(tree).filter((name) => !name.includes('/'));
    expect(names.filter((name) => name !== 'lost+found').sort()).toEqual(expected.sort());
    expect(await top.getByRole('row', { name: /^hosts-link → etc\/hosts/ }).count()).toBe(1);
    await checkScreen(page, 'files-directory', () => top.waitFor());

    // Into a folder with a non-ASCII name; its file downloads as it is, under its own name.
    await follow(page, 'données/');
    const folder = page.getByRole('region', { name: 'Entries of p1:/données' });
    await folder.waitFor();
    // The keyboard is on the heading again (the link it followed is gone), and the crumbs say where.
    await expect.poll(() => page.evaluate(() => document.activeElement?.tagName), { timeout: 10_000 }).toBe('H1');
    expect(await page.getByRole('link', { name: 'données', exact: true }).getAttribute('aria-current')).toBe('page');
    const fileDownload = page.waitForEvent('download');
    await follow(page, 'Download été.txt');
    const file = await fileDownload;
    expect(file.suggestedFilename()).toBe('été.txt');
    const saved = path.join(ws.dir, 'downloaded-été.txt');
    await file.saveAs(saved);
    expect(createHash('sha256').update(readFileSync(saved)).digest('hex')).toBe(tree['données/été.txt'].sha256);

    // Back up the breadcrumbs to p1:/, and the whole folder as a ZIP.
    await follow(page, 'p1:/');
    await top.waitFor();
    const zipDownload = page.waitForEvent('download');
    await follow(page, 'Download this folder as ZIP');
    const zip = await zipDownload;
    expect(zip.suggestedFilename()).toBe('root.zip');
    const zipFile = path.join(ws.dir, 'root.zip');
    await zip.saveAs(zipFile);
    const unzipped = path.join(ws.dir, 'unzipped');
    execFileSync('unzip', ['-q', zipFile, '-d', unzipped]);
    const got = await cli;
    expect(got.exitCode, got.stderr).toBe(0);
    const fromZip = contents(unzipped);
    expect(Object.keys(fromZip).length).toBeGreaterThan(Object.keys(tree).length - 1);
    expect(fromZip).toEqual(contents(extracted));

    // A folder that is not there: the API's refusal, as it wrote it.
    const missing = `/api/v1/backups/${point}/files?path=${encodeURIComponent('p1:/no such dir')}`;
    const refusal = await page.evaluate(
      async (url) => ((await (await fetch(url)).json()) as { message: string }).message,
      missing,
    );
    await page.goto(`${server!.base}/points/${point}/files?path=${encodeURIComponent('p1:/no such dir')}`);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toBe(refusal);
    expect(problems).toEqual([]);
  } finally {
    await context.close();
    await cli;
  }
}, 600_000);

it("lists a point's disks, browses the second disk's filesystem and downloads from it as `files --disk` does", async () => {
  const { context, page, problems } = await openSession(browser!);
  const { vm, point, trees } = twoDisks;
  // What `files --disk 2001 --get` extracts, meanwhile (its own appliance).
  const extracted = path.join(ws.dir, 'extracted-2001');
  const cli = sendenseFiles([
    'files',
    vm,
    '--db',
    guest.db,
    '--point',
    point,
    '--disk',
    '2001',
    '--get',
    'p1:/srv/data.csv',
    '--to',
    extracted,
  ]);
  try {
    await logIn(page, server!.base, restoreSecret);
    await follow(page, 'Backups');
    await follow(page, vm);
    await follow(page, `Files of point ${point}`);
    await page.getByRole('heading', { level: 1, name: `Files of point ${point}` }).waitFor();

    // Two disks: which one first, each with its key, size and where it was read from.
    const disks = page.getByRole('region', { name: 'Disks' });
    await disks.waitFor();
    const rows = disks.locator('tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await disks.getByRole('row', { name: /^disk 2000 / }).textContent()).toMatch(
      new RegExp(`64\\.0 MiB.*${vm}-2000\\.qcow2`),
    );
    expect(await disks.getByRole('row', { name: /^disk 2001 / }).textContent()).toMatch(
      new RegExp(`64\\.0 MiB.*${vm}-2001\\.qcow2`),
    );
    await checkScreen(page, 'files-disks', () => disks.waitFor());

    // The second disk with the keyboard: its filesystems, its p1, its folder.
    await follow(page, 'disk 2001');
    await page.getByRole('heading', { level: 1, name: `Files of point ${point}, disk 2001` }).waitFor();
    await expect.poll(() => page.evaluate(() => document.activeElement?.tagName), { timeout: 10_000 }).toBe('H1');
    const p1 = page.getByRole('region', { name: 'Filesystems' }).getByRole('row', { name: /^p1 / });
    await p1.waitFor({ timeout: 300_000 });
    expect(await p1.textContent()).toMatch(/ext4/);
    await follow(page, 'p1');
    const top = page.getByRole('region', { name: 'Entries of p1:/' });
    await top.waitFor();
    const names = (await top.locator('tbody th').allTextContents()).filter((name) => name !== 'lost+found/');
    expect(names).toEqual(['srv/']);
    await follow(page, 'srv/');
    await page.getByRole('region', { name: 'Entries of p1:/srv' }).waitFor();

    // A file of the second disk, as it is and as `files --disk 2001 --get` extracts it.
    const fileDownload = page.waitForEvent('download');
    await follow(page, 'Download data.csv');
    const file = await fileDownload;
    const saved = path.join(ws.dir, 'downloaded-data.csv');
    await file.saveAs(saved);
    const got = await cli;
    expect(got.exitCode, got.stderr).toBe(0);
    const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
    expect(sha256(saved)).toBe(trees['2001']['srv/data.csv'].sha256);
    expect(sha256(saved)).toBe(sha256(path.join(extracted, 'srv/data.csv')));

    // The folder as a ZIP, of the second disk too.
    const zipDownload = page.waitForEvent('download');
    await follow(page, 'Download this folder as ZIP');
    const zipFile = path.join(ws.dir, 'srv.zip');
    await (await zipDownload).saveAs(zipFile);
    const unzipped = path.join(ws.dir, 'unzipped-srv');
    execFileSync('unzip', ['-q', zipFile, '-d', unzipped]);
    expect(contents(unzipped)).toEqual(contents(path.join(ws.dir, `${vm}-2001-tree`)));

    // The crumbs lead back to the disks.
    await follow(page, 'disks');
    await disks.waitFor();
    expect(problems).toEqual([]);
  } finally {
    await context.close();
    await cli;
  }
}, 600_000);
