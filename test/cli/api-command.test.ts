// `sendense-run api` as a person types it (docs/api.md#tls): `api fingerprint` makes the hub's
// certificate once and prints the SHA-256 openssl prints for it, the same one the server then
// serves; a listen address or plain HTTP the server must not take is a usage error in one line.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../support/api-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';

const ws = useRunWorkspace('sendense-api-command-', { per: 'file' });
let server: ApiServer | undefined;
afterAll(async () => {
  await server?.stop();
});

it('api fingerprint makes the certificate once, prints what openssl prints, and the server serves it', async () => {
  const first = await sendenseRun(['--db', ws.db, '--json', 'api', 'fingerprint']);
  expect(first.exitCode, first.stderr).toBe(0);
  const made = JSON.parse(first.stdout) as Record<string, unknown>;
  expect(made).toMatchObject({ type: 'fingerprint', selfSigned: true, created: true });
  const openssl = execFileSync('openssl', [
    'x509',
    '-noout',
    '-fingerprint',
    '-sha256',
    '-in',
    String(made.certificate),
  ])
    .toString()
    .trim()
    .split('=')[1];
  expect(made.sha256).toBe(openssl);
  expect(path.dirname(String(made.certificate))).toBe(path.join(path.dirname(ws.db), 'api'));

  const again = await sendenseRun(['--db', ws.db, 'api', 'fingerprint']);
  expect(again.exitCode, again.stderr).toBe(0);
  expect(again.stdout.trim()).toBe(openssl);

  server = await startApiServer({ db: ws.db, plans: [] });
  const listening = server
    .output()
    .split('\n')
    .find((line) => line.includes('"type":"listening"'));
  expect(JSON.parse(listening!)).toMatchObject({ fingerprint: openssl, certificate: made.certificate });
}, 120_000);

it('refuses plain HTTP off loopback, a listen that is not HOST:PORT and a word after fingerprint, in one line', async () => {
  const cases: [string[], RegExp][] = [
    [['api', '--listen', '0.0.0.0:8420', '--plain-http'], /plain HTTP is allowed only on a loopback address/],
    [['api', '--listen', 'nowhere'], /--listen must be HOST:PORT/],
    [['api', 'fingerprint', 'extra'], /api fingerprint takes no arguments \(got 'extra'\)/],
  ];
  for (const [args, said] of cases) {
    const result = await sendenseRun(['--db', ws.db, ...args]);
    expect(result.exitCode, args.join(' ')).toBe(2);
    expect(result.stderr).toMatch(said);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
  }
});
