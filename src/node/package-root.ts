// Finds this package's root (the directory whose package.json is "sendense-run"), from src/
// under vitest or dist/cli/ when bundled, and the node transfer bundle inside it.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SendenseError } from '../errors.js';

const PACKAGE_NAME = 'sendense-run';

export function findPackageRoot(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && readPackageName(manifest) === PACKAGE_NAME) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json named ${PACKAGE_NAME} above ${start}`);
    dir = parent;
  }
}

function readPackageName(manifest: string): unknown {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name;
  } catch {
    return undefined;
  }
}

// Absolute path of runners/dist/sendense-transfer.mjs; a clear error when it was never built.
/** The package's version (package.json), from src/ (tests) or dist/cli/ (the bin) alike. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(findPackageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

export function transferBundlePath(root: string = findPackageRoot()): string {
  const bundle = join(root, 'runners', 'dist', 'sendense-transfer.mjs');
  if (!existsSync(bundle)) {
    throw new SendenseError(`the node transfer is not built (${bundle} is missing): run \`npm run build\``);
  }
  return bundle;
}
