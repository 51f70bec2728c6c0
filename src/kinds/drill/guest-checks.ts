// The checks that need the drill's guest running (docs/drills.md#checks): boot (the domain runs, not
// crashed or panicked), heartbeat (a console line matching a pattern, or the guest agent's
// guest-ping) and screenshot (a PNG of its screen). Each answers what it found, or throws why not.

import { SendenseError } from '../../errors.js';
import type { DrillCheck } from '../../plan/types.js';
import type { DrillRun } from './drill-run.js';
import { consoleText, panicLine } from './guest-console.js';
import { screenshotPng } from './png.js';

const POLL_MS = 500;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Seconds since the domain was created, to a tenth.
function sinceCreated(run: DrillRun): number {
  return Math.round((Date.now() - run.state.createdAt!) / 100) / 10;
}

// Running, and the guest has not panicked; the domain ends (destroy) when its guest crashes or reboots.
export async function guestAlive(run: DrillRun): Promise<void> {
  const panic = panicLine(await consoleText(run));
  if (panic !== undefined) throw new SendenseError(`the guest panicked: ${panic}`);
  const state = await run.virsh.attempt(['domstate', run.state.domain]);
  if (state.exitCode !== 0) throw new SendenseError('the domain is gone: the guest crashed, rebooted or powered off');
  if (state.stdout.trim() !== 'running') throw new SendenseError(`the domain is ${state.stdout.trim()}`);
}

export async function bootCheck(run: DrillRun, check: Extract<DrillCheck, { type: 'boot' }>): Promise<string> {
  const until = Date.now() + check.timeout * 1000;
  for (;;) {
    const state = await run.virsh.attempt(['domstate', run.state.domain]);
    if (state.stdout.trim() === 'running') break;
    if (Date.now() > until) throw new SendenseError(`the domain did not run within ${check.timeout} s`);
    await sleep(POLL_MS);
  }
  run.state.bootSeconds = sinceCreated(run);
  await guestAlive(run);
  return `running ${run.state.bootSeconds} s after it was created`;
}

export async function heartbeatCheck(
  run: DrillRun,
  check: Extract<DrillCheck, { type: 'heartbeat' }>,
): Promise<string> {
  const pattern = check.console === undefined ? undefined : new RegExp(check.console, 'm');
  const until = Date.now() + check.timeout * 1000;
  for (;;) {
    run.signal.throwIfAborted();
    await guestAlive(run);
    if (pattern !== undefined) {
      const line = (await consoleText(run)).split('\n').find((each) => pattern.test(each));
      if (line !== undefined) {
        run.state.heartbeatSeconds = sinceCreated(run);
        return `console line '${line.trim().slice(0, 120)}' ${run.state.heartbeatSeconds} s after the start`;
      }
    }
    if (check.agent) {
      const ping = await run.virsh.attempt([
        'qemu-agent-command',
        run.state.domain,
        '{"execute":"guest-ping"}',
        '--timeout',
        '2',
      ]);
      if (ping.exitCode === 0) {
        run.state.heartbeatSeconds = sinceCreated(run);
        return `the guest agent answered ${run.state.heartbeatSeconds} s after the start`;
      }
    }
    if (Date.now() > until)
      throw new SendenseError(
        `no heartbeat within ${check.timeout} s (${[pattern && `no console line matching /${check.console}/`, check.agent && 'the guest agent did not answer'].filter(Boolean).join('; ')})`,
      );
    await sleep(POLL_MS);
  }
}

export async function screenshotCheck(run: DrillRun): Promise<string> {
  await guestAlive(run);
  const file = `${run.state.dir}/screenshot`;
  await run.virsh.run(['screenshot', run.state.domain, '--file', file], `take a screenshot of ${run.state.domain}`);
  const read = await run.node.exec(['base64', '-w', '0', '--', file]);
  if (read.exitCode !== 0) throw new SendenseError(`cannot read the screenshot: ${read.stderr.trim()}`);
  await run.node.exec(['rm', '-f', '--', file]);
  const png = screenshotPng(Buffer.from(read.stdout.trim(), 'base64'));
  run.state.screenshot = png.toString('base64');
  return `a PNG of ${png.length} bytes, kept with the drill`;
}
