// The node transfer (runners/README.md): copies each disk's source into its NBD target and
// prints JSON lines. stdin closing, SIGTERM and SIGINT stop it; it always stops its qemu-nbd.
// Lines on stdin after the request change its rate while it runs (docs/bandwidth.md).

import { isSendenseError } from '../src/errors.js';
import { TokenBucket } from '../src/rate/token-bucket.js';
import {
  ARGS_ON_STDIN,
  CHECK_RESTORED,
  formatRestoredCheckLine,
  formatTransferLine,
  parseRestoredCheckRequest,
  parseArgsOnStdinLine,
  parseTransferArgv,
  type RestoredCheckRequest,
  type TransferRequest,
} from '../src/wire/index.js';
import { checkRestored } from './transfer/check-restored.js';
import { followControlLines } from './transfer/control-input.js';
import { transferDisks } from './transfer/transfer-disks.js';

async function main(): Promise<number> {
  let request: TransferRequest;
  // What stdin held after the request's line: the first control lines, if any.
  let pending = '';
  try {
    const argv = process.argv.slice(2);
    if (argv.length === 1 && argv[0] === CHECK_RESTORED) return await checkRestoredMain();
    if (argv.length === 1 && argv[0] === ARGS_ON_STDIN) {
      const first = await firstLineOfStdin();
      // Started ahead and never given a job (the run ended before its transfer): nothing to do.
      if (first === undefined) return 0;
      request = parseArgsOnStdinLine(first.line);
      pending = first.rest;
    } else request = parseTransferArgv(argv);
  } catch (error) {
    process.stderr.write(`sendense-transfer: ${isSendenseError(error) ? error.message : String(error)}\n`);
    return 2;
  }
  const controller = new AbortController();
  const stop = (reason: string) => () => controller.abort(reason);
  process.once('SIGTERM', stop('SIGTERM received'));
  process.once('SIGINT', stop('SIGINT received'));
  const writeLine = (line: string) => process.stdout.write(`${line}\n`);
  // One rate for every disk and connection; each change is said with this PID (the same process).
  const bucket = new TokenBucket(request.rate);
  const sayRate = () =>
    writeLine(formatTransferLine({ type: 'rate', bytesPerSecond: bucket.rate ?? null, pid: process.pid }));
  if (request.rate !== undefined) sayRate();
  // stdin is the lifeline: the hub (or the SSH channel) going away closes it.
  process.stdin.on('end', stop('stdin closed'));
  process.stdin.on('error', stop('stdin closed'));
  followControlLines(
    process.stdin,
    pending,
    (control) => {
      bucket.setRate(control.rate ?? undefined);
      sayRate();
    },
    (text) => process.stderr.write(`${text}\n`),
  );
  process.stdout.on('error', stop('stdout closed'));
  const { ok } = await transferDisks(request, {
    writeLine,
    signal: controller.signal,
    logBug: (text) => process.stderr.write(`${text}\n`),
    bucket,
  });
  return ok ? 0 : 1;
}

// `--check-restored` alone: the request is the first line of stdin, the answer one line on stdout;
// exit 1 when the check could not run (the line says why), 2 for a request it cannot read. stdin
// stays open after the request as the lifeline: the hub gone (even by kill -9: sshd closes it) or
// the run given up closes it, and the check stops rather than read the rest of the disk for nobody.
async function checkRestoredMain(): Promise<number> {
  const first = await firstLineOfStdin();
  let request: RestoredCheckRequest;
  try {
    if (first === undefined) throw new Error('no request on stdin');
    request = parseRestoredCheckRequest(first.line.trim());
  } catch (error) {
    process.stderr.write(`sendense-transfer: ${isSendenseError(error) ? error.message : String(error)}\n`);
    return 2;
  }
  const controller = new AbortController();
  const stop = (reason: string) => () => controller.abort(new Error(`stopped: ${reason}`));
  process.once('SIGTERM', stop('SIGTERM received'));
  process.once('SIGINT', stop('SIGINT received'));
  process.stdin.on('end', stop('stdin closed'));
  process.stdin.on('error', stop('stdin closed'));
  process.stdin.resume();
  // The answer may find nobody to read it: that is no bug to print.
  process.stdout.on('error', stop('stdout closed'));
  const line = await checkRestored(request, controller.signal);
  process.stdout.write(`${formatRestoredCheckLine(line)}\n`);
  return line.outcome === 'error' ? 1 : 0;
}

// `--args-on-stdin` alone: started ahead of its job (the hub prepares the targets meanwhile, so
// node's start-up is off the run's path), the arguments arrive as the first line of stdin; stdin
// stays open after it as the lifeline. Undefined: stdin ended first. `rest`: what came after the line.
function firstLineOfStdin(): Promise<{ readonly line: string; readonly rest: string } | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\n');
      if (end < 0) return;
      done();
      resolve({ line: text.slice(0, end), rest: text.slice(end + 1) });
    };
    const onEnd = () => {
      done();
      resolve(undefined);
    };
    // Paused until the control lines are followed: nothing that comes meanwhile is lost.
    const done = () => {
      process.stdin.pause();
      process.stdin.off('data', onData);
      process.stdin.off('end', onEnd);
      process.stdin.off('error', onEnd);
    };
    process.stdin.on('data', onData);
    process.stdin.once('end', onEnd);
    process.stdin.once('error', onEnd);
  });
}

process.exitCode = await main();
// Nothing of ours is left to wait for; stdin would keep the process alive.
process.exit();
