// Help that helps: `help CMD` and `CMD --help` show that command's own options; a mistyped
// command or option is answered with the nearest valid one.

import { describe, expect, it } from 'vitest';
import { runCli } from '../plan/run-validate.js';

describe('help', () => {
  it('help CMD and CMD --help print the same usage with the options of that command', async () => {
    for (const [command, options] of [
      ['history', ['--plan NAME', '--limit N']],
      ['backups', ['--vm NAME', '--verbose']],
      ['validate', ['--format FORMAT']],
      ['doctor', ['--dry-run']],
      ['run', ['--dry-run', '--metrics-file PATH']],
    ] as const) {
      const viaHelp = await runCli(['help', command]);
      const viaFlag = await runCli([command, '--help']);
      expect(viaHelp.exitCode).toBe(0);
      expect(viaFlag).toEqual(viaHelp);
      expect(viaHelp.stdout).toMatch(new RegExp(`^Usage: sendense-run .*${command === 'run' ? 'PLAN' : command}`));
      for (const option of options) expect(viaHelp.stdout).toContain(`\n  ${option} `);
      expect(viaHelp.stdout).toContain('\n  --db PATH|URL ');
    }
  });

  it('a plan file with --help shows the help of run', async () => {
    expect((await runCli(['plans/pgtest1-nightly.yaml', '--help'])).stdout).toBe(
      (await runCli(['help', 'run'])).stdout,
    );
  });

  it('an unknown command or option names the nearest valid one', async () => {
    expect(await runCli(['histroy'])).toMatchObject({
      exitCode: 2,
      stderr: "sendense-run: unknown command 'histroy' (did you mean 'history'?) (see sendense-run --help)\n",
    });
    expect(await runCli(['history', '--limt', '3'])).toMatchObject({
      exitCode: 2,
      stderr:
        "sendense-run: unknown option '--limt' for 'history' (did you mean '--limit'?) (see sendense-run help history)\n",
    });
    expect((await runCli(['backups', '--verbse'])).stderr).toContain("(did you mean '--verbose'?)");
    expect((await runCli(['--jsn'])).stderr).toContain("unknown option '--jsn' (did you mean '--json'?)");
    expect((await runCli(['--jsn', 'history'])).stderr).toContain(
      "unknown option '--jsn' for 'history' (did you mean '--json'?)",
    );
    expect((await runCli(['help', 'bakups'])).stderr).toBe(
      "sendense-run: no help for 'bakups': not a command (did you mean 'backups'?) (see sendense-run --help)\n",
    );
    // Nothing near: no guess.
    expect((await runCli(['frobnicate'])).stderr).toBe(
      "sendense-run: unknown command 'frobnicate' (see sendense-run --help)\n",
    );
  });
});
