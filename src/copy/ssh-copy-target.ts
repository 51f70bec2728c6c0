// A copy on another host reached over SSH (docs/copies.md): each file operation is one small
// POSIX shell script run there through the node's exec channel (paths always as arguments,
// never in the script), using only coreutils and findutils. A file's bytes go on the script's
// stdin (`cat`), are fsynced there and hashed back with sha256sum. Works on any NodeHost: this
// host too.

import path from 'node:path';
import { SendenseError } from '../errors.js';
import { describeNode } from '../node/node-description.js';
import type { ExecOptions, NodeHost } from '../node/node.js';
import type { NodeSpec } from '../plan/types.js';
import type { CopyTarget, TargetRoot } from './copy-target.js';

const INSPECT = 'if [ ! -e "$1" ] && [ ! -L "$1" ]; then echo missing; elif [ ! -d "$1" ]; then echo not-a-directory; else echo directory; ls -A -- "$1"; fi';
const LIST = `cd -- "$1" 2>/dev/null || exit 0; find . -mindepth 1 -maxdepth 2 -type f -printf '%P\\t%s\\n'`;
const READ = '[ -e "$1" ] || exit 3; cat -- "$1"';
const MAKE_DIRS = 'umask 077 && mkdir -p -- "$@"';
// Written, made durable, then read back: the hash is of what the disk holds, not of what came in.
const WRITE = 'umask 077 && cat > "$1" && sync -- "$1" && sha256sum < "$1"';
const HASH = 'sha256sum < "$1"';
const RENAME = 'mv -f -- "$1" "$2" && sync -- "$(dirname -- "$2")"';
const REMOVE = 'rm -f -- "$@"';

/** `spec`: the host as the plan gives it, for messages; `root`: the copy's absolute path there. */
export function sshCopyTarget(node: NodeHost, spec: NodeSpec, root: string): CopyTarget {
  const description = copyDescription(spec, root);
  const absolute = (relative: string): string => path.posix.join(root, relative);
  const sh = async (what: string, script: string, args: readonly string[], options: ExecOptions = {}, allowed: readonly number[] = [0]) => {
    const result = await node.exec(['sh', '-c', script, 'sh', ...args], options);
    if (!allowed.includes(result.exitCode)) throw new SendenseError(`${description}: ${what}: ${reason(result.stderr, result.exitCode)}`);
    return result;
  };
  const sha256Of = (what: string, stdout: string): string => {
    const digest = /^([0-9a-f]{64})\b/.exec(stdout.trim())?.[1];
    if (digest === undefined) throw new SendenseError(`${description}: ${what}: sha256sum printed no digest (${JSON.stringify(stdout.slice(0, 80))})`);
    return digest;
  };

  const target: CopyTarget = {
    description,
    node: node.id,
    absolute,
    async inspect(): Promise<TargetRoot> {
      const { stdout } = await sh('cannot look at it', INSPECT, [root]);
      const [state, ...entries] = stdout.split('\n').filter((line) => line !== '');
      if (state === 'missing' || state === 'not-a-directory') return { state };
      return { state: 'directory', entries };
    },
    async list(dir) {
      const { stdout } = await sh(`cannot list ${dir}`, LIST, [absolute(dir)]);
      const files = new Map<string, number>();
      for (const line of stdout.split('\n')) {
        const tab = line.lastIndexOf('\t');
        if (tab > 0) files.set(line.slice(0, tab), Number(line.slice(tab + 1)));
      }
      return files;
    },
    async read(relative) {
      const result = await sh(`cannot read ${relative}`, READ, [absolute(relative)], {}, [0, 3]);
      return result.exitCode === 3 ? undefined : result.stdout;
    },
    async makeDirs(relatives) {
      if (relatives.length > 0) await sh('cannot create directories', MAKE_DIRS, relatives.map(absolute));
    },
    async write(relative, bytes, signal) {
      const what = `cannot write ${relative}`;
      const { stdout } = await sh(what, WRITE, [absolute(relative)], { stdin: bytes, signal });
      return sha256Of(what, stdout);
    },
    async hash(relative) {
      const what = `cannot read ${relative}`;
      return sha256Of(what, (await sh(what, HASH, [absolute(relative)])).stdout);
    },
    async rename(from, to) {
      await sh(`cannot rename ${from} to ${path.posix.basename(to)}`, RENAME, [absolute(from), absolute(to)]);
    },
    async remove(relatives) {
      if (relatives.length > 0) await sh('cannot remove files', REMOVE, relatives.map(absolute));
    },
  };
  return Object.freeze(target);
}

// "sendense@offsite1:22:/backup/offsite"
export function copyDescription(spec: NodeSpec, root: string): string {
  return `${describeNode(spec)}:${root}`;
}

// What went wrong there, in a few words: a full disk named as such, else the program's last line.
function reason(stderr: string, exitCode: number): string {
  if (/no space left on device/i.test(stderr)) return 'no space left on device';
  if (/disk quota exceeded/i.test(stderr)) return 'disk quota exceeded';
  const last = stderr
    .trim()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .at(-1)
    ?.replace(/^(sh|cat|mv|mkdir|rm|sync|sha256sum|find|ls)(: \d+)?: /, '');
  return last ?? `exit status ${exitCode}`;
}
