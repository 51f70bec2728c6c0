// The node transfer (runners/README.md): copies each disk's source into its NBD target and
// prints JSON lines. stdin closing, SIGTERM and SIGINT stop it; it always stops its qemu-nbd.

import { isSendenseError } from '../src/errors.js';
import { ARGS_ON_STDIN, parseArgsOnStdinLine, parseTransferArgv, type TransferRequest } from '../src/wire/index.js';
import { transferDisks } from './transfer/transfer-disks.js';

async function main(): Promise<number> {
  let request: TransferRequest;
  try {
    const argv = process.argv.slice(2);
    if (argv.length === 1 && argv[0] === ARGS_ON_STDIN) {
      const line = await firstLineOfStdin();
      // Started ahead and never given a job (the run ended before its transfer): nothing to do.
      if (line === undefined) return 0;
      request = parseArgsOnStdinLine(line);
    } else request = parseTransferArgv(argv);
  } catch (error) {
    process.stderr.write(`sendense-transfer: ${isSendenseError(error) ? error.message : String(error)}\n`);
    return 2;
  }
  const controller = new AbortController();
  const stop = (reason: string) => () => controller.abort(reason);
  process.once('SIGTERM', stop('SIGTERM received'));
  process.once('SIGINT', stop('SIGINT received'));
  // stdin is the lifeline: the hub (or the SSH channel) going away closes it.
  process.stdin.on('end', stop('stdin closed'));
  process.stdin.on('error', stop('stdin closed'));
  process.stdin.resume();
  process.stdout.on('error', stop('stdout closed'));
  const { ok } = await transferDisks(request, {
    writeLine: (line) => process.stdout.write(`${line}\n`),
    signal: controller.signal,
    logBug: (text) => process.stderr.write(`${text}\n`),
  });
  return ok ? 0 : 1;
}

// `--args-on-stdin` alone: started ahead of its job (the hub prepares the targets meanwhile, so
// node's start-up is off the run's path), the arguments arrive as the first line of stdin; stdin
// stays open after it as the lifeline. Undefined: stdin ended first.
function firstLineOfStdin(): Promise<string | undefined> {
  return new Promise<string | undefined>((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\n');
      if (end < 0) return;
      done();
      resolve(text.slice(0, end));
    };
    const onEnd = () => {
      done();
      resolve(undefined);
    };
    const done = () => {
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
