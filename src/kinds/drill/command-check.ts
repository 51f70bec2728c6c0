// The command check (docs/drills.md#checks): a program run in the guest through the guest agent
// (guest-exec), its exit code and output awaited; it passes when it exits with `exitCode` (default
// 0) and, with `expect`, its output contains that text.

import { SendenseError } from '../../errors.js';
import type { DrillCheck } from '../../plan/types.js';
import type { DrillRun } from './drill-run.js';

const POLL_MS = 500;
const OUTPUT_SHOWN = 200;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface ExecStatus {
  readonly exited: boolean;
  readonly exitcode?: number;
  readonly 'out-data'?: string;
  readonly 'err-data'?: string;
}

export async function commandCheck(run: DrillRun, check: Extract<DrillCheck, { type: 'command' }>): Promise<string> {
  const [path, ...args] = check.run;
  const until = Date.now() + check.timeout * 1000;
  const started = await agent<{ pid: number }>(
    run,
    { execute: 'guest-exec', arguments: { path, arg: args, 'capture-output': true } },
    until,
  );
  for (;;) {
    const status = await agent<ExecStatus>(
      run,
      { execute: 'guest-exec-status', arguments: { pid: started.pid } },
      until,
    );
    if (status.exited) {
      const output = Buffer.from(status['out-data'] ?? '', 'base64').toString('utf8');
      const errors = Buffer.from(status['err-data'] ?? '', 'base64').toString('utf8');
      const shown = (output + errors).trim().slice(0, OUTPUT_SHOWN);
      if (status.exitcode !== check.exitCode)
        throw new SendenseError(
          `${check.run.join(' ')} exited ${status.exitcode ?? '?'}, not ${check.exitCode}: ${shown}`,
        );
      if (check.expect !== undefined && !output.includes(check.expect))
        throw new SendenseError(`${check.run.join(' ')} printed no '${check.expect}': ${shown}`);
      return `${check.run.join(' ')} exited ${status.exitcode}${check.expect === undefined ? '' : `, printed '${check.expect}'`}`;
    }
    if (Date.now() > until) throw new SendenseError(`${check.run.join(' ')} did not end within ${check.timeout} s`);
    await sleep(POLL_MS);
  }
}

// One agent command's answer; the agent not answering yet (a guest still starting) is waited for until `until`.
async function agent<T>(run: DrillRun, command: object, until: number): Promise<T> {
  for (;;) {
    const answer = await run.virsh.attempt([
      'qemu-agent-command',
      run.state.domain,
      JSON.stringify(command),
      '--timeout',
      '5',
    ]);
    if (answer.exitCode === 0) return (JSON.parse(answer.stdout) as { return: T }).return;
    if (Date.now() > until)
      throw new SendenseError(`the guest agent did not answer: ${answer.stderr.trim().split('\n')[0] ?? ''}`);
    await sleep(POLL_MS);
  }
}
