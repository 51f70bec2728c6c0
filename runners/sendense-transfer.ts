// The node transfer (runners/README.md): copies each disk's source into its NBD target and
// prints JSON lines. stdin closing, SIGTERM and SIGINT stop it; it always stops its qemu-nbd.

import { isSendenseError } from '../src/errors.js';
import { parseTransferArgs, type TransferArgs } from './transfer/transfer-args.js';
import { transferDisks } from './transfer/transfer-disks.js';

async function main(): Promise<number> {
  let args: TransferArgs;
  try {
    args = parseTransferArgs(process.argv.slice(2));
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
  const { ok } = await transferDisks(args, {
    writeLine: (line) => process.stdout.write(`${line}\n`),
    signal: controller.signal,
    logBug: (text) => process.stderr.write(`${text}\n`),
  });
  return ok ? 0 : 1;
}

process.exitCode = await main();
// Nothing of ours is left to wait for; stdin would keep the process alive.
process.exit();
