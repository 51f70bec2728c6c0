// The node transfer as bench/manifest.js runs it: the same code, digests on or off (DIGESTS=0),
// so that the two timings differ by the digests alone.
import { transferDisks } from '../../runners/transfer/transfer-disks.js';
import { parseTransferArgv } from '../../src/wire/index.js';

const { ok } = await transferDisks(parseTransferArgv(process.argv.slice(2)), {
  writeLine: (line) => process.stdout.write(`${line}\n`),
  signal: new AbortController().signal,
  tuning: { digests: process.env.DIGESTS !== '0' },
});
process.exit(ok ? 0 : 1);
