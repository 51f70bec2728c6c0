// The `files` command with one appliance per point for a whole test file: the command's own
// argument parsing, printing and extraction (parseFilesArgs, filesOnPoint of
// src/cli/files-command.ts) on points opened once. Under software emulation every appliance start
// costs ~10 s of CPU, so a file's many listings and extractions share them; each file still runs
// the real CLI (sendenseFiles) for what only a whole command shows (its appliance start and stop,
// its refusals before one starts, its exit codes).

import { Writable } from 'node:stream';
import { filesOnPoint, parseFilesArgs, type FilesRequest } from '../../src/cli/files-command.js';
import { isSendenseError } from '../../src/errors.js';
import { findPointFile } from '../../src/files/backup-point.js';
import { checkExtractTarget } from '../../src/files/extract-target.js';
import { asUserError } from '../../src/files/guest-files.js';
import { openPoint, type OpenPoint } from '../../src/files/open-point.js';
import { pointReaderOf } from '../../src/files/point-reader.js';
import { openStore, type Store } from '../../src/store/index.js';
import type { FilesResult } from './guest-disk.js';

export interface SharedFiles {
  /** `sendense-run files ARGS` (with --json as a common option) on the shared appliances. */
  files(args: readonly string[]): Promise<FilesResult>;
  /** Stops every appliance; the file's afterAll. */
  close(): Promise<void>;
}

class Text extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

// db: the state database, read when the first command runs (a file's beforeAll makes it).
export function sharedFiles(db: () => string): SharedFiles {
  let store: Promise<Store> | undefined;
  const points = new Map<string, Promise<OpenPoint>>();

  // Keyed by the point's file, as the command finds it: latest and its id share one appliance.
  const open = async (request: FilesRequest): Promise<OpenPoint> => {
    const found = await findPointFile(await (store ??= openStore(db())), request.vm, request.point, request.disk);
    let opened = points.get(found.disk.file);
    if (opened === undefined) {
      opened = openPoint(await store, {
        vm: request.vm,
        point: request.point,
        disk: request.disk,
        inspect: true,
        command: 'files',
      });
      // A point that could not be opened is tried again by the next command, as a new command would.
      opened.catch(() => points.delete(found.disk.file));
      points.set(found.disk.file, opened);
    }
    return opened;
  };

  return {
    async files(args) {
      const json = args.includes('--json');
      const stdout = new Text();
      const stderr = new Text();
      try {
        const request = parseFilesArgs(args.filter((arg) => arg !== '--json'));
        if (request.target) checkExtractTarget(request.target, request.overwrite);
        const opened = await open(request);
        await filesOnPoint({ json, quiet: false, stdout, stderr }, pointReaderOf(opened), request).catch(
          (error: unknown) => {
            throw asUserError(error);
          },
        );
        return { exitCode: 0, stdout: stdout.text, stderr: stderr.text };
      } catch (error) {
        // As the CLI reports it (src/cli/main.ts); anything else is a bug, thrown.
        if (!isSendenseError(error)) throw error;
        return {
          exitCode: error.exitCode,
          stdout: stdout.text,
          stderr: `${stderr.text}sendense-run: ${error.describe()}\n`,
        };
      }
    },
    async close() {
      for (const opened of points.values()) await (await opened.catch(() => undefined))?.close();
      points.clear();
      await (await store?.catch(() => undefined))?.close();
    },
  };
}
