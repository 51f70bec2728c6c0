// A bucket key as a file inside the directory `fetch` writes (docs/copies.md#what-fetch-refuses):
// whoever can write the bucket chooses its keys, so a key maps to a path only when every segment
// is a plain name, and a file is placed only where no symlink already in the directory leads
// elsewhere. Anything else is refused, naming the key, before anything is written.

import { lstat, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError } from '../../errors.js';

// Why `relative` (a key less the copy's prefix) names no file inside the directory; undefined when it does.
export function keyPathProblem(relative: string): string | undefined {
  if (relative === '') return 'it is the prefix itself';
  // Control characters (NUL among them) and backslashes: no name of ours has them, and a path with them means something else elsewhere.
  if ([...relative].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f))
    return 'it holds a control character';
  if (relative.includes('\\')) return 'it holds a backslash';
  if (relative.startsWith('/')) return 'it is absolute';
  const segments = relative.split('/');
  if (segments.includes('')) return 'it has an empty segment';
  if (segments.some((segment) => segment === '.' || segment === '..')) return 'it has a . or .. segment';
  return undefined;
}

// The key's relative path, or a refusal naming it.
export function checkedKeyPath(key: string, relative: string, description: string): string {
  const problem = keyPathProblem(relative);
  if (problem !== undefined)
    throw new SendenseError(
      `${description}: the key ${JSON.stringify(key)} names no file inside the directory (${problem}): refused, nothing fetched`,
    );
  return relative;
}

// `<dir>/<relative>`, its directories made (0700) as needed; refused when a symlink, or anything
// but a directory, stands on the way, or when the file's own name is anything but a regular file.
export async function placeInside(dir: string, relative: string): Promise<string> {
  let at = dir;
  const segments = relative.split('/');
  for (const segment of segments.slice(0, -1)) {
    at = path.join(at, segment);
    let there = await lstat(at).catch(() => undefined);
    if (there === undefined) {
      await mkdir(at, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
      there = await lstat(at);
    }
    if (!there.isDirectory())
      throw notInside(dir, relative, `${at} is ${there.isSymbolicLink() ? 'a symlink' : 'not a directory'}`);
  }
  const file = path.join(at, segments.at(-1)!);
  const there = await lstat(file).catch(() => undefined);
  if (there !== undefined && !there.isFile())
    throw notInside(dir, relative, `${file} is ${there.isSymbolicLink() ? 'a symlink' : 'not a regular file'}`);
  return file;
}

function notInside(dir: string, relative: string, why: string): SendenseError {
  return new SendenseError(
    `${dir}: ${relative} would not be a file inside it (${why}): refused, nothing written there`,
  );
}
