// Notifications (docs/notifications.md) from real runs of the built CLI, to a real HTTP server and a
// real SMTP server on 127.0.0.1: the facts arrive, secrets come from a file or the environment and
// show nowhere else, and a notification that fails is a warning that leaves the run's result alone.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { freePort } from '../support/free-port.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const HEADER_SECRET = 'hdr-7d1c0e55-never-printed';
const SMTP_PASSWORD = 'smtp-41b9aa02-never-printed';
const [first, last] = portRangeForTestFile();
const ws = useRunWorkspace('notify-');
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

// An HTTP server that answers 204 to every POST and keeps what it got.
async function webhookServer(): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      received.push({ headers: request.headers, body: JSON.parse(text) as Record<string, unknown> });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/sendense`, received };
}

interface Mail {
  readonly user?: string;
  readonly password?: string;
  readonly from?: string;
  readonly to: readonly string[];
  readonly text: string;
}

// An SMTP server that wants a login (in clear text: it is 127.0.0.1) and keeps every mail.
async function smtpServer(): Promise<{ port: number; mails: Mail[] }> {
  const mails: Mail[] = [];
  const logins = new Map<string, { user?: string; password?: string }>();
  const server = new SMTPServer({
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, session, callback) {
      logins.set(session.id, { user: auth.username ?? undefined, password: auth.password ?? undefined });
      callback(null, { user: auth.username });
    },
    onData(stream, session, callback) {
      let text = '';
      stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
      stream.on('end', () => {
        const from = session.envelope.mailFrom;
        // Long header lines arrive folded (RFC 5322 2.2.3).
        const unfolded = text.replace(/\r\n[ \t]+/g, ' ');
        mails.push({
          ...logins.get(session.id),
          from: from ? from.address : undefined,
          to: session.envelope.rcptTo.map((to) => to.address),
          text: unfolded,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return { port: (server.server.address() as AddressInfo).port, mails };
}

function writePlan(notify: Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): string {
  const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 8 * 1024 * 1024);
  writeDisk(disk, ['write -P 0x5a 0 1M']);
  const plan = {
    version: 1,
    kind: 'backup',
    name: 'notified',
    vm: { name: 'notified-vm', source: { type: 'qemu', disks: [{ key: 2000, path: disk }] } },
    repository: { path: ws.repository },
    nbd: { ports: `${first}-${last}` },
    ...(notify && { notify }),
    ...extra,
  };
  const file = path.join(ws.dir, 'plan.yaml');
  writeFileSync(file, stringify(plan));
  return file;
}

function events(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

// Every place a secret must never reach: what the runs printed, the history, the database files.
async function expectNowhere(secret: string, outputs: readonly string[]): Promise<void> {
  const history = await sendenseRun(['history', '--db', ws.db, '--json']);
  const database = [ws.db, `${ws.db}-wal`].filter(existsSync).map((file) => readFileSync(file).toString('latin1'));
  for (const text of [...outputs, history.stdout, history.stderr, ...database]) expect(text).not.toContain(secret);
}

describe('notify', () => {
  it('a webhook receives the run-end facts as JSON, with a header read from a file', async () => {
    const hook = await webhookServer();
    const secretFile = path.join(ws.dir, 'webhook-auth');
    writeFileSync(secretFile, `Bearer ${HEADER_SECRET}\n`);
    const plan = writePlan({
      on: 'success',
      webhook: { url: hook.url, headers: { Authorization: { file: secretFile } } },
    });

    const run = await sendenseRun([plan, '--db', ws.db, '--json']);

    expect(run.exitCode).toBe(0);
    const end = events(run.stdout).find((event) => event.type === 'run-end')!;
    expect(end.status).toBe('succeeded');
    expect(hook.received).toHaveLength(1);
    const [{ headers, body }] = hook.received;
    expect(headers.authorization).toBe(`Bearer ${HEADER_SECRET}`);
    expect(headers['content-type']).toBe('application/json');
    expect(body).toMatchObject({
      status: 'succeeded',
      runId: end.runId,
      backupId: end.backupId,
      bytes: end.bytes,
      plan: 'notified',
      kind: 'backup',
      vm: 'notified-vm',
    });
    expect(typeof body.backupId).toBe('string');
    expect(body.bytes).toBeGreaterThan(0);
    expect(typeof body.hub).toBe('string');
    await expectNowhere(HEADER_SECRET, [run.stdout, run.stderr]);
  });

  it("the hub config's email reaches an SMTP server, logged in with the password from the environment", async () => {
    const smtp = await smtpServer();
    const hubConfig = path.join(ws.dir, 'hub.yaml');
    const email = {
      host: '127.0.0.1',
      port: smtp.port,
      security: 'none',
      from: 'sendense@hub.test',
      to: ['ops@example.test'],
      username: 'sendense',
      passwordEnv: 'SMTP_PASSWORD',
    };
    writeFileSync(hubConfig, stringify({ name: 'hub-7', notify: { on: 'always', email } }));
    const plan = writePlan(undefined);

    const run = await sendenseRun([plan, '--db', ws.db, '--hub-config', hubConfig, '--json'], { SMTP_PASSWORD });

    expect(run.exitCode).toBe(0);
    const end = events(run.stdout).find((event) => event.type === 'run-end')!;
    expect(smtp.mails).toHaveLength(1);
    const [mail] = smtp.mails;
    expect(mail).toMatchObject({
      user: 'sendense',
      password: SMTP_PASSWORD,
      from: 'sendense@hub.test',
      to: ['ops@example.test'],
    });
    expect(mail.text).toContain('Subject: sendense-run: backup plan notified succeeded (VM notified-vm, hub hub-7)');
    expect(mail.text).toContain(`backupId: ${String(end.backupId)}`);
    expect(mail.text).toContain(`bytes: ${String(end.bytes)} `);
    expect(
      events(run.stdout).some(
        (event) => event.type === 'info' && String(event.message).startsWith('notified by email to ops@example.test'),
      ),
    ).toBe(true);
    await expectNowhere(SMTP_PASSWORD, [run.stdout, run.stderr]);
  });

  it('on: failure (the default) sends nothing after a successful run', async () => {
    const hook = await webhookServer();
    const plan = writePlan({ webhook: { url: hook.url } });
    const run = await sendenseRun([plan, '--db', ws.db]);
    expect(run.exitCode).toBe(0);
    expect(hook.received).toEqual([]);
  });

  it('on: failure sends the error of a failed run, whose exit code stays 1', async () => {
    const hook = await webhookServer();
    const plan = writePlan(
      { webhook: { url: hook.url } },
      { hooks: { before: [{ run: 'echo not today >&2; exit 3' }] } },
    );
    const run = await sendenseRun([plan, '--db', ws.db]);
    expect(run.exitCode).toBe(1);
    expect(hook.received).toHaveLength(1);
    expect(hook.received[0].body).toMatchObject({
      status: 'failed',
      plan: 'notified',
      kind: 'backup',
      vm: 'notified-vm',
    });
    expect(String(hook.received[0].body.error)).toContain('not today');
  });

  it('an unreachable webhook is a warning and a note; the run still succeeds', async () => {
    const port = await freePort();
    const plan = writePlan({
      on: 'always',
      webhook: { url: `http://127.0.0.1:${port}/gone?token=${HEADER_SECRET}`, retries: 1, timeout: '5s' },
    });

    const run = await sendenseRun([plan, '--db', ws.db, '--json']);

    expect(run.exitCode).toBe(0);
    const all = events(run.stdout);
    expect(all.find((event) => event.type === 'run-end')?.status).toBe('succeeded');
    const warning = `could not notify by webhook http://127.0.0.1:${port}: ECONNREFUSED (after 2 attempts)`;
    expect(all.filter((event) => event.type === 'warning').map((event) => event.message)).toContain(warning);
    const history = await sendenseRun(['history', '--db', ws.db, '--json']);
    expect(history.stdout).toContain(warning);
    await expectNowhere(HEADER_SECRET, [run.stdout, run.stderr]);
  });

  it('a header value written in the plan is refused without being shown', async () => {
    const plan = writePlan({
      webhook: { url: 'https://hooks.example.test/x', headers: { 'X-Api-Key': HEADER_SECRET } },
    });
    const result = await sendenseRun(['validate', plan, '--db', ws.db]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout + result.stderr).toContain(
      'notify.webhook.headers.X-Api-Key: a header value must not be written in a plan; read it from { env: NAME } or { file: PATH } (the value is not shown)',
    );
    expect(result.stdout + result.stderr).not.toContain(HEADER_SECRET);
  });
});
