// A copy in a directory of a host (docs/copies.md): another host over SSH (./ssh.ts), or this one
// (./dir.ts). Each file operation is one small POSIX shell script run there through the node's exec channel (paths always as arguments, never
// in the script), using only coreutils and findutils. One exec puts a whole file in place: its
// bytes on the script's stdin followed by the sha256 the hub computed of them, the partial file
// fsynced and, at the same time, read back for its sha256 (openssl's where installed: about three
// times sha256sum's speed), compared, renamed. Starting a session costs round trips and a fork there, so each file
// takes one. The copy's merges run on that host too (capability `host`).

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { SendenseError } from '../../errors.js';
import type { ExecOptions, NodeHost } from '../../node/node.js';
import { REPOSITORY_MARKER } from '../../repository/marker.js';
import { capabilities, type CopyTarget, type CopyTargetFacts, type TargetRoot } from '../copy-target.js';
import type { OutgoingBytes } from '../outgoing-bytes.js';

// What is at the path, a repository above it (a marker in a parent directory), its entries and marker.
const INSPECT = [
  'inside=; p=$(realpath -m -- "$1" 2>/dev/null) || p=$1',
  'while [ "$p" != / ] && [ -n "$p" ]; do p=$(dirname -- "$p"); if [ -e "$p/$2" ]; then inside=$p; break; fi; done',
  'if [ ! -e "$1" ] && [ ! -L "$1" ]; then printf "missing\\n%s\\n" "$inside"; exit 0; fi',
  'if [ ! -d "$1" ]; then printf "not-a-directory\\n%s\\n" "$inside"; exit 0; fi',
  'printf "directory\\n%s\\n" "$inside"; ls -A -- "$1" || exit',
  // No entry's name holds a "/": this line cannot be one.
  'if [ -f "$1/$2" ]; then echo /marker; cat -- "$1/$2"; fi',
].join('\n');
const LIST = `cd -- "$1" 2>/dev/null || exit 0; find . -mindepth 1 -maxdepth 2 -type f -printf '%P\\t%s\\n'`;
const READ = '[ -e "$1" ] || exit 3; cat -- "$1"';
// The sha256 of stdin as "<hex> …", by the fastest program there.
const SHA256 = 'if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi';
// stdin: the file's bytes, then a line with the hub's sha256 of them (65 bytes). Taken whole by cat
// (an exact-length reader like head -c or dd moves them at a fraction of its speed), the line is
// cut off again before the file is made durable and read back. A hub whose bytes fail closes the
// channel: the script then writes into a closed pipe, so it ignores SIGPIPE and removes its partial
// file before it says why (it was killed by the message before the removal when the cores were full).
const PUT = [
  'umask 077; trap \'\' PIPE; p="$1.partial"',
  'mkdir -p -- "$(dirname -- "$1")" || exit',
  'fail() { rm -f -- "$p"; [ -z "$2" ] || echo "$2" >&2; exit "$1"; }',
  // Whoever can write the copy can plant a symlink at that name: it is removed, and the file made
  // by `>` under noclobber, which refuses an existing regular file or dangling link (docs/threat-model.md).
  'rm -f -- "$p" || exit; set -C',
  'cat > "$p" || fail $?',
  'set +C',
  'n=$(wc -c < "$p"); [ "$n" -eq $(($2 + 65)) ] || fail 8 "only $n of $2 bytes arrived"',
  'sent=$(tail -c 65 -- "$p" | head -c 64) && truncate -s "$2" -- "$p" || fail 7',
  // Made durable while it is read back: the rename waits for both.
  'sync -- "$p" & s=$!',
  `got=$({ ${SHA256}; } < "$p") || { wait $s; fail 6; }; got=\${got%% *}`,
  'wait $s || fail 7',
  '[ "$got" = "$sent" ] || fail 9 "it arrived different from what was sent (sha256 $got there, $sent sent)"',
  'mv -f -- "$p" "$1" && sync -- "$(dirname -- "$1")"',
].join('\n');
const HASH = `[ -e "$1" ] || exit 3; { ${SHA256}; } < "$1"`;
const REMOVE = 'rm -f -- "$@"';

/** The copy's files under `root` (absolute) on `node`; `description`: for messages; `facts`: for doctor. */
export function hostFilesTarget(node: NodeHost, root: string, description: string, facts: CopyTargetFacts): CopyTarget {
  const absolute = (relative: string): string => path.posix.join(root, relative);
  const sh = async (
    what: string,
    script: string,
    args: readonly string[],
    options: ExecOptions = {},
    allowed: readonly number[] = [0],
  ) => {
    const result = await node.exec(['sh', '-c', script, 'sh', ...args], options);
    if (!allowed.includes(result.exitCode))
      throw new SendenseError(`${description}: ${what}: ${reason(result.stderr, result.exitCode)}`);
    return result;
  };

  const target: CopyTarget = {
    description,
    node: node.id,
    facts: { ...facts, root },
    absolute,
    async inspect(): Promise<TargetRoot> {
      const { stdout } = await sh('cannot look at it', INSPECT, [root, REPOSITORY_MARKER]);
      const [state, insideLine, ...rest] = stdout.split('\n');
      const inside = insideLine === '' || insideLine === undefined ? undefined : insideLine;
      if (state === 'missing') return { state, inside };
      if (state !== 'directory') return { state: 'not-a-directory' };
      const cut = rest.indexOf('/marker');
      const entries = (cut === -1 ? rest : rest.slice(0, cut)).filter((line) => line !== '');
      return { state, entries, inside, ...(cut !== -1 && { marker: rest.slice(cut + 1).join('\n') }) };
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
    async put(relative, bytes, signal) {
      await sh(`cannot write ${relative}`, PUT, [absolute(relative), String(bytes.size)], {
        stdin: withDigest(bytes),
        signal,
      });
    },
    async sameAs(relative, file) {
      const { stdout, exitCode } = await sh(`cannot read ${relative}`, HASH, [absolute(relative)], {}, [0, 3]);
      if (exitCode === 3) return false;
      const digest = /^([0-9a-f]{64})\b/.exec(stdout.trim())?.[1];
      if (digest === undefined)
        throw new SendenseError(
          `${description}: cannot read ${relative}: no sha256 digest in ${JSON.stringify(stdout.slice(0, 80))}`,
        );
      return digest === (await sha256Of(file));
    },
    async remove(relatives) {
      if (relatives.length > 0) await sh('cannot remove files', REMOVE, relatives.map(absolute));
    },
    async removeLeft(recorded) {
      await sh(`cannot remove ${recorded}`, REMOVE, [recorded]);
    },
    capability: capabilities({ host: { node, root } }),
  };
  return Object.freeze(target);
}

// The bytes, then the line with their sha256: the script renames only what has that digest there.
async function* withDigest(bytes: OutgoingBytes): AsyncIterable<Uint8Array> {
  yield* bytes;
  yield Buffer.from(`${bytes.sha256()}\n`);
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
    ?.replace(/^(sh|wc|cat|tail|head|truncate|mv|mkdir|rm|sync|sha256sum|openssl|find|ls|realpath)(: \d+)?: /, '');
  return last ?? `exit status ${exitCode}`;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
