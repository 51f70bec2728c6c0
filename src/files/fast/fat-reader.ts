// A FAT12/16/32 (vfat) filesystem of a point read by our own walker (./fat-walker.ts) run as a
// process of its own in the sandbox (./sandbox.ts): guest bytes are parsed there, never in the hub.
// As root it starts as root (node and the walker may lie where only root can reach them: a clone
// in a `mktemp -d`, a Node.js under /root) and becomes the point's uid before reading the guest.
// mtools is not used: `mdir` says times to the minute, the appliance's vfat mount to 2 s.
// docs/file-level-restore.md#the-fast-path

import { join } from 'node:path';
import { SendenseError } from '../../errors.js';
import { findPackageRoot } from '../../node/package-root.js';
import type { GuestEntry } from '../guest-files.js';
import { guestNameText } from '../guest-name.js';
import { NotForFastPath } from './ext-reader.js';
import type { FastReader } from './fast-reader.js';
import { EXIT_DAMAGE, EXIT_NOT_FOR_FAST_PATH, type WalkedEntry } from './fat-walker-answer.js';
import { isFatBootSector } from './fat-volume.js';
import { runSandboxed, streamSandboxed, type ReaderSandbox } from './sandbox.js';

const STEP_TIMEOUT_MS = 20_000;
// 65,536 entries of ~150 bytes of JSON each, with room.
const MAX_ANSWER = 64 * 1024 * 1024;
// The walker's heap: a directory is at most 2 MiB of entries.
const WALKER_HEAP = '--max-old-space-size=256';

/** Whether a FAT12/16/32 boot sector starts what `read` reads. */
export async function isFatFilesystem(read: (offset: number, length: number) => Promise<Buffer>): Promise<boolean> {
  return isFatBootSector(await read(0, 512));
}

/** The bundled walker, beside the CLI's bundle (dist/cli/fat-walker.js). */
function walkerScript(): string {
  return join(findPackageRoot(), 'dist', 'cli', 'fat-walker.js');
}

export interface WalkerRuntime {
  readonly node: string;
  readonly script: string;
}

export class FatReader implements FastReader {
  readonly name = 'fat-walker';

  constructor(
    /** The disk file (nbdfuse) and the filesystem's offset in it. */
    private readonly diskFile: string,
    private readonly offset: number,
    /** "p3 of VM win1, backup X, disk 2000", for messages. */
    private readonly what: string,
    private readonly sandbox: () => ReaderSandbox,
    /** The partition's bytes: the walker reads none past them. */
    readonly capacity: number,
    /** Where node and the walker are: ours (a test puts copies where only root may enter). */
    private readonly runtime: () => WalkerRuntime = () => ({ node: process.execPath, script: walkerScript() }),
  ) {}

  async list(guestPath: string): Promise<readonly GuestEntry[]> {
    return (await this.walk('list', guestPath)).sort((a, b) => Buffer.compare(nameBytes(a), nameBytes(b)));
  }

  async stat(guestPath: string): Promise<GuestEntry> {
    const [entry] = await this.walk('stat', guestPath);
    if (entry === undefined) throw new SendenseError(`${this.what}: the FAT walker said nothing of ${guestPath}`);
    return entry;
  }

  async fileBytes<T>(guestPath: string, read: (bytes: AsyncIterable<Buffer>) => Promise<T>): Promise<T> {
    const entry = await this.stat(guestPath);
    if (entry.type !== 'file') throw new SendenseError(`${this.what}: ${guestPath} is not a file`);
    try {
      const { value } = await streamSandboxed(
        this.argv('cat', guestPath),
        {
          sandbox: this.sandbox(),
          dropsRoot: true,
          idleMs: STEP_TIMEOUT_MS,
          what: `the FAT walker reading ${guestPath} of ${this.what}`,
        },
        read,
      );
      return value;
    } catch (error) {
      if (error instanceof SendenseError)
        throw new SendenseError(`${this.what} could not be read as FAT: ${error.message}`, { cause: error });
      throw error;
    }
  }

  private argv(command: 'list' | 'stat' | 'cat', guestPath: string): string[] {
    const { user } = this.sandbox();
    const { node, script } = this.runtime();
    return [
      node,
      WALKER_HEAP,
      script,
      user === undefined ? '-' : `${user.uid}:${user.gid}`,
      this.diskFile,
      String(this.offset),
      String(this.capacity),
      command,
      Buffer.from(guestPath, 'utf8').toString('hex'),
    ];
  }

  private async walk(command: 'list' | 'stat', guestPath: string): Promise<GuestEntry[]> {
    const { stdout, stderr, exitCode } = await runSandboxed(this.argv(command, guestPath), {
      sandbox: this.sandbox(),
      dropsRoot: true,
      answers: [0, EXIT_DAMAGE, EXIT_NOT_FOR_FAST_PATH],
      timeoutMs: STEP_TIMEOUT_MS,
      maxBytes: MAX_ANSWER,
      what: `the FAT walker reading ${this.what}`,
    });
    if (exitCode === EXIT_NOT_FOR_FAST_PATH) throw new NotForFastPath();
    if (exitCode === EXIT_DAMAGE) {
      const said = stderr.trim().split('\n')[0] ?? '';
      if (/: (No such file or directory|Not a directory)$/.test(said)) throw new SendenseError(`${this.what}: ${said}`);
      throw new SendenseError(`${this.what} could not be read as FAT: ${said.slice(0, 300)}`);
    }
    return stdout
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => this.entry(line));
  }

  // One JSON line of the walker, checked field by field (it parsed guest bytes).
  private entry(line: string): GuestEntry {
    const walked = JSON.parse(line) as Partial<WalkedEntry>;
    const { name, directory, size, mode, mtime, atime } = walked;
    const numbers = [size, mode, mtime, atime];
    if (typeof name !== 'string' || typeof directory !== 'boolean' || !numbers.every(Number.isSafeInteger))
      throw new SendenseError(`${this.what}: the FAT walker gave an entry it should not: ${line.slice(0, 200)}`);
    const bytes = Buffer.from(name, 'base64');
    return {
      name: guestNameText(bytes),
      type: directory ? 'directory' : 'file',
      size: size!,
      mode: mode!,
      uid: 0,
      gid: 0,
      mtime: mtime!,
      atime: atime!,
    };
  }
}

const nameBytes = (entry: GuestEntry) => entry.nameBytes ?? Buffer.from(entry.name, 'utf8');
