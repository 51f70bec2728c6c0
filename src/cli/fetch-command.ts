// `sendense-run fetch COPY-PLAN.yaml DIR [--vm NAME [--point ID|latest]] [--lazy]`: an s3 copy's
// objects brought back into DIR, which is then a repository (docs/copies.md#restoring-from-a-bucket):
// `catalog import DIR`, `verify`, a restore plan with DIR as its repository. With --lazy only the
// small files come, and the backup files are read straight from the bucket while the command runs
// (docs/copies.md#reading-straight-from-a-bucket). The keys are the plan's (its environment
// variables or credentials file), as for a run of it.

import path from 'node:path';
import { fetchCopy } from '../copy/s3/fetch-copy.js';
import { s3Client, s3Keys, type S3Keys } from '../copy/s3/s3-client.js';
import { s3Description } from '../copy/s3/s3-description.js';
import { openBucketView } from '../copy/s3/bucket-view.js';
import { DEFAULT_READ_AHEAD } from '../copy/s3/bucket-blocks.js';
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3CopyTo } from '../plan/types.js';
import { formatBytes } from '../format/bytes.js';
import { SendenseError, usageError } from '../errors.js';
import { copyToCapability } from '../copy/targets/index.js';
import { planCapability } from '../kinds/index.js';
import { loadPlanForRun } from '../plan/load.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';

const MiB = 1024 * 1024;
const MIN_READ_AHEAD_MIB = 4;
const MAX_READ_AHEAD_MIB = 1024;

const OPTIONS = declareOptions([
  { name: '--vm', value: 'NAME', help: "only this VM's points" },
  {
    name: '--point',
    value: 'ID|latest',
    help: 'only what this point of --vm needs: its files and its parents, down to the full',
  },
  {
    name: '--lazy',
    help: 'bring only the small files; read the backup files from the bucket as they are read, until Ctrl+C or SIGTERM',
  },
  {
    name: '--read-ahead',
    value: 'MIB',
    help: `with --lazy: how far ahead of a file read in order the view reads the bucket, in MiB (4 MiB GETs; ${MIN_READ_AHEAD_MIB}-${MAX_READ_AHEAD_MIB}, default ${DEFAULT_READ_AHEAD / MiB}); the view holds at most twice that plus 32 MiB`,
  },
]);

type FetchLine =
  | {
      readonly type: 'summary';
      readonly fetched: number;
      readonly kept: number;
      readonly bytes: number;
      readonly point: string | null;
      readonly dir: string;
    }
  | {
      readonly type: 'view';
      readonly dir: string;
      readonly files: number;
      readonly fetched: number;
      readonly kept: number;
      readonly point: string | null;
    }
  | { readonly type: 'view-closed'; readonly dir: string; readonly requests: number; readonly bytes: number };

const JSON_OUTPUT: JsonOutput = {
  intro:
    'Without `--lazy`, one `summary`. With `--lazy`, a `view` once it is open and a `view-closed` when it is closed ([copies.md](copies.md)).',
  lines: typedLines<FetchLine>({
    summary: {
      when: 'every object asked for is in DIR',
      fields: {
        fetched: 'files brought from the bucket',
        kept: 'files found in DIR already with the right content',
        bytes: 'fetched',
        point: 'the point asked for, else null',
        dir: '',
      },
    },
    view: {
      when: '`--lazy`: the view is open',
      fields: {
        dir: '',
        files: 'the backup files read from the bucket as they are read',
        fetched: 'small files brought',
        kept: 'small files found in DIR already',
        point: 'the point asked for, else null',
      },
    },
    'view-closed': {
      when: '`--lazy`: the view is closed',
      fields: { dir: '', requests: 'reads served from the bucket', bytes: 'read from the bucket' },
    },
  }),
};

export const fetchCommand: CommandSpec = defineCommand({
  name: 'fetch',
  usage: 'sendense-run fetch COPY-PLAN.yaml DIR [--vm NAME [--point ID|latest]] [--lazy [--read-ahead MIB]]',
  does: "Bring the objects of a copy plan's s3 copy back into DIR, which is then a repository (catalog import DIR,\nverify, a restore plan with DIR as its repository): every VM's, one VM's (--vm), or only the files one\npoint of it needs (--point: its chain, down to the full). Each object is read in ranged GETs, four at a\ntime, and counts only once its bytes make the ETag the store holds (an object put in another part layout:\nonce its manifest's digests check it). A key that names no file inside DIR is refused, and so is a symlink\nin DIR on the way to a file. DIR must be missing, empty, or an earlier fetch of the same copy: files\nalready there with the same bytes are kept. With --lazy, the backup files stay in the bucket: DIR is a\nrepository read from it as it is read, until Ctrl+C or SIGTERM.",
  options: OPTIONS,
  exitCodes: [
    { code: 0, when: 'every object asked for is in DIR, checked (--lazy: the view was closed by Ctrl+C or SIGTERM)' },
    {
      code: 1,
      when: 'the store could not be reached or refused the keys, an object read back different or differs from its manifest (its partial file is removed), or a key or a symlink in DIR leads outside DIR (refused, nothing written through it)',
    },
    {
      code: 2,
      when: 'invalid plan, a plan that is not an s3 copy, DIR holding something else, or a usage error; nothing was written',
    },
  ],
  json: JSON_OUTPUT,
  run: runFetch,
});

async function runFetch(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  const vm = given.value('--vm');
  const point = given.value('--point');
  if (given.operands.length !== 2)
    throw usageError('fetch takes a copy plan and a directory (sendense-run fetch COPY-PLAN.yaml DIR)');
  if (point !== undefined && vm === undefined) throw usageError('--point needs --vm: the point of which VM');
  const readAhead = readAheadOption(given.value('--read-ahead'), given.flag('--lazy'));
  const plan = await loadPlanForRun(given.operands[0]!, process.env);
  const copy = planCapability(plan, 'copy')?.copy;
  // Only a bucket's objects can be fetched: its target offers it.
  const to = copy === undefined ? undefined : copyToCapability(copy.to, 'fetch');
  if (to === undefined)
    throw new SendenseError(`${plan.origin.file}: fetch reads a copy plan's s3 copy; this plan is not one`, {
      exitCode: 2,
    });
  const dir = path.resolve(given.operands[1]!);
  const keys = await s3Keys(to.credentials);
  const client = s3Client(to, keys);
  if (given.flag('--lazy')) {
    try {
      return await viewUntilStopped(cli, client, keys, to, dir, { vm, point }, readAhead);
    } finally {
      client.destroy();
    }
  }
  try {
    const outcome = await fetchCopy(client, to, dir, { vm, point }, (relative) => {
      if (!cli.quiet && !cli.json) cli.stdout.write(`${relative}\n`);
    });
    const what =
      outcome.point === undefined ? (vm === undefined ? 'the copy' : `VM ${vm}`) : `point ${outcome.point} of ${vm}`;
    if (cli.json)
      printJson<FetchLine>(cli, {
        type: 'summary',
        fetched: outcome.fetched.length,
        kept: outcome.kept.length,
        bytes: outcome.bytes,
        point: outcome.point ?? null,
        dir,
      });
    else
      cli.stdout.write(
        `fetched ${what} from ${s3Description(to)} into ${dir}: ${outcome.fetched.length} file(s), ${formatBytes(outcome.bytes)}; ${outcome.kept.length} already there kept\n`,
      );
    return 0;
  } finally {
    client.destroy();
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

// --lazy: the view stays open until a signal (or its daemon ends on its own: exit 1).
async function viewUntilStopped(
  cli: CliContext,
  client: S3Client,
  keys: S3Keys,
  to: S3CopyTo,
  dir: string,
  choice: { vm?: string; point?: string },
  readAhead: number,
): Promise<number> {
  let stop: () => void = () => {};
  const stopped = new Promise<'signal'>((resolve) => (stop = () => resolve('signal')));
  for (const signal of SIGNALS) process.on(signal, stop);
  try {
    const view = await openBucketView(client, to, dir, choice, undefined, readAhead, keys);
    try {
      if (cli.json)
        printJson<FetchLine>(cli, {
          type: 'view',
          dir,
          files: view.files,
          fetched: view.fetched.length,
          kept: view.kept.length,
          point: view.point ?? null,
        });
      else
        cli.stdout.write(
          `${dir} is a repository of ${s3Description(to)}: ${view.files} backup file(s) read from the bucket as they are read\nCtrl+C (or SIGTERM) closes it\n`,
        );
      const how = await Promise.race([stopped, view.ended]);
      if (how !== 'signal')
        throw new SendenseError(
          `the view of ${s3Description(to)} at ${dir} stopped: qemu-storage-daemon ended (${how})`,
        );
    } finally {
      await view.close();
    }
    const { requests, bytes } = view.served();
    if (cli.json) printJson<FetchLine>(cli, { type: 'view-closed', dir, requests, bytes });
    else cli.stdout.write(`closed the view at ${dir}: ${requests} read(s) from the bucket, ${formatBytes(bytes)}\n`);
    return 0;
  } finally {
    for (const signal of SIGNALS) process.off(signal, stop);
  }
}

// --read-ahead MIB: whole MiB within bounds, and only for a view (docs/copies.md#reading-straight-from-a-bucket).
function readAheadOption(text: string | undefined, lazy: boolean): number {
  if (text === undefined) return DEFAULT_READ_AHEAD;
  if (!lazy) throw usageError('--read-ahead goes with --lazy: a fetch reads whole objects');
  const mib = Number(text);
  if (!/^\d+$/.test(text) || mib < MIN_READ_AHEAD_MIB || mib > MAX_READ_AHEAD_MIB)
    throw usageError(
      `--read-ahead ${text}: must be a whole number of MiB from ${MIN_READ_AHEAD_MIB} to ${MAX_READ_AHEAD_MIB}`,
    );
  return mib * MiB;
}
