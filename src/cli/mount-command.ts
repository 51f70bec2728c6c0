// `sendense-run mount VM [--point P] [--disk KEY] DIR` (docs/file-level-restore.md): the point's filesystems
// read-only under DIR (DIR/p1, DIR/vg0/root, ...) through FUSE, served by the libguestfs
// appliance, until Ctrl+C or SIGTERM; always unmounted on exit. The mount is recorded in the
// state database before it exists, so `doctor` unmounts what a killed command left behind.

import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { SendenseError, usageError } from '../errors.js';
import { parseDiskOption, parsePointOption } from '../files/backup-point.js';
import { isMountPoint, unmountFuse } from '../files/fuse-mount.js';
import { asUserError } from '../files/guest-files.js';
import { mountEveryFilesystem } from '../files/mount-tree.js';
import { openPoint, type OpenPoint } from '../files/open-point.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import { KEY_OPTIONS, keyOption } from './key-option.js';
import { withExistingStore } from './open-existing-store.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

const OPTIONS = declareOptions([
  { name: '--point', value: 'P', help: 'latest (default), a backup id, or an ISO-8601 time' },
  { name: '--disk', value: 'KEY', help: "the disk key (default: the backup's first disk)" },
  ...KEY_OPTIONS,
]);

type MountLine =
  | {
      readonly type: 'mounted';
      readonly dir: string;
      readonly backupId: string;
      readonly diskKey: number;
      readonly filesystems: readonly string[];
    }
  | { readonly type: 'unmounted'; readonly dir: string };

const JSON_OUTPUT: JsonOutput = {
  lines: typedLines<MountLine>({
    mounted: {
      when: 'mounted',
      fields: { dir: '', backupId: '', diskKey: '', filesystems: 'names: each filesystem is the folder `DIR/NAME`' },
    },
    unmounted: { when: 'after Ctrl+C or SIGTERM', fields: { dir: '' } },
  }),
};

export const mountCommand: CommandSpec = defineCommand({
  name: 'mount',
  usage: 'sendense-run mount VM [--point P] [--disk KEY] [--key-file FILE|--key-env NAME] DIR',
  does: "Mount a point's filesystems read-only under DIR (DIR/p1, DIR/vg0/root, ...) until Ctrl+C or SIGTERM;\nalways unmounted on exit, and doctor unmounts what a killed mount left. A point of an encrypted\nrepository needs its key (--key-file or --key-env): it is read through a read-only qemu-nbd, recorded\nas a run of kind mount so doctor stops it too.",
  options: OPTIONS,
  exitCodes: [
    { code: 0, when: 'mounted, then unmounted after Ctrl+C or SIGTERM' },
    { code: 1, when: 'the point could not be opened or mounted' },
    {
      code: 2,
      when: 'bad --point, --disk or DIR; no such VM or backup; the point is encrypted and no key given opens it (nothing was started); or a usage error',
    },
    { code: 130, when: 'interrupted before the mount was ready' },
  ],
  json: JSON_OUTPUT,
  run: runMount,
});

async function runMount(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  keyOption(given);
  const [vm, dirArg, ...extra] = given.operands;
  if (vm === undefined || dirArg === undefined) throw usageError(`usage: ${mountCommand.usage}`);
  if (extra.length > 0) throw usageError(`mount takes a VM and a directory (got '${extra[0]}' too)`);
  const dir = path.resolve(dirArg);
  checkMountDir(dir);
  const request = {
    vm,
    point: parsePointOption(given.value('--point')),
    disk: parseDiskOption(given.value('--disk')),
  };

  return withExistingStore(cli, async (store) => {
    const note = (line: string) => {
      if (!cli.quiet) cli.stderr.write(`${line}\n`);
    };
    let opened: OpenPoint | undefined;
    let failure: unknown;
    let mounted = false;
    let stopping = false;
    const stop = () => {
      stopping = true;
      // Unmounting ends the FUSE loop (mount_local_run returns); before that, the appliance just stops.
      if (mounted) void unmountFuse(dir).catch((error: Error) => note(`could not unmount ${dir}: ${error.message}`));
      else opened?.kill();
    };
    for (const signal of SIGNALS) process.on(signal, stop);
    try {
      opened = await openPoint(store, { ...request, note, command: 'mount' });
      const { agent } = opened.files;
      try {
        if (stopping) throw new SendenseError('interrupted', { exitCode: 130 });
        const names = await mountEveryFilesystem(opened.files, note);
        await store.recordFileMount({
          dir,
          vm,
          backupId: opened.point.backup.id,
          diskKey: opened.point.disk.diskKey,
          serverPid: agent.pid,
        });
        try {
          await agent.call('mount_local', [dir], { readonly: 1 });
          mounted = true;
          if (cli.json)
            printJson<MountLine>(cli, {
              type: 'mounted',
              dir,
              backupId: opened.point.backup.id,
              diskKey: opened.point.disk.diskKey,
              filesystems: names,
            });
          else
            cli.stdout.write(
              `mounted ${opened.point.where} read-only at ${dir}: ${names.map((name) => path.join(dir, name)).join(', ')}\nCtrl+C (or SIGTERM) unmounts it\n`,
            );
          if (stopping) stop();
          await agent.call('mount_local_run');
        } finally {
          mounted = false;
          await unmountFuse(dir, { lazy: true }).catch(() => undefined);
          await store.forgetFileMount(dir);
        }
      } catch (error) {
        failure = stopping ? new SendenseError('interrupted', { exitCode: 130, cause: error }) : error;
        throw error;
      } finally {
        await opened.close(failure);
      }
    } catch (error) {
      if (stopping) throw new SendenseError('interrupted', { exitCode: 130, cause: error });
      throw asUserError(error);
    } finally {
      for (const signal of SIGNALS) process.off(signal, stop);
    }
    if (cli.json) printJson<MountLine>(cli, { type: 'unmounted', dir });
    else cli.stdout.write(`unmounted ${dir}\n`);
    return 0;
  });
}

// An existing, empty directory that is not a mountpoint already.
function checkMountDir(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new SendenseError(`${dir} does not exist: create an empty directory to mount on`);
  }
  if (!isDir) throw new SendenseError(`${dir} is not a directory`);
  if (isMountPoint(dir))
    throw new SendenseError(`${dir} is already a mountpoint (a mount left behind? sendense-run doctor unmounts those)`);
  if (readdirSync(dir).length > 0) throw new SendenseError(`${dir} is not empty: mount on an empty directory`);
}
