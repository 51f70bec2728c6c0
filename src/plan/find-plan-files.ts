// The plan files named on a command line: files as given, directories searched recursively
// for *.yaml / *.yml (hidden directories skipped), in a stable sorted order.

import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { PlanDiagnostic } from './plan-diagnostic.js';

export interface PlanFiles {
  readonly files: readonly string[];
  /** Named paths that do not exist or hold no plans. */
  readonly errors: readonly PlanDiagnostic[];
}

export async function findPlanFiles(paths: readonly string[]): Promise<PlanFiles> {
  const files: string[] = [];
  const errors: PlanDiagnostic[] = [];
  for (const given of paths) {
    const info = await stat(given).catch(() => undefined);
    if (info === undefined) {
      errors.push({ file: given, severity: 'error', message: 'no such file or directory' });
    } else if (!info.isDirectory()) {
      files.push(given);
    } else {
      const found = (await yamlFilesUnder(given)).sort();
      if (found.length === 0)
        errors.push({ file: given, severity: 'error', message: 'no plan files (*.yaml, *.yml) in this directory' });
      files.push(...found);
    }
  }
  return { files: [...new Set(files)], errors };
}

async function yamlFilesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const found: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await yamlFilesUnder(full)));
    else if (/\.ya?ml$/i.test(entry.name)) found.push(full);
  }
  return found;
}
