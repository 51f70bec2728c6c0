// `sendense-run token add` with a lifetime no date can hold (docs/api.md#tokens-and-roles): a usage
// error in one line naming it (exit 2), never an internal error; no token is made.

import { expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';

const ws = useRunWorkspace('cli-token-');

it('token add --expires past the year 9999 is a usage error (exit 2) in one line, and adds nothing', async () => {
  for (const expires of ['999999y', '999999w']) {
    const added = await sendenseRun([
      '--db',
      ws.db,
      'token',
      'add',
      'forever',
      '--role',
      'audit',
      '--expires',
      expires,
    ]);
    expect(added.exitCode).toBe(2);
    expect(added.stderr).toBe(
      `sendense-run: expires ${expires} ends after the year 9999: give a shorter lifetime, or none (a token without one never expires)`,
    );
  }
  const listed = await sendenseRun(['--db', ws.db, 'token', 'list']);
  expect(listed.stdout).toBe('no tokens yet (sendense-run token add NAME --role ROLE)');
  const longest = await sendenseRun(['--db', ws.db, 'token', 'add', 'long', '--role', 'audit', '--expires', '999999d']);
  expect(longest.exitCode, longest.stderr).toBe(0);
});
