// The node transfer bundled the way the hub ships it (one ESM file, esbuild), built once per
// test file into a temp dir that is removed afterwards.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { transferBundleOptions } from '../../scripts/transfer-bundle.js';
import { afterAll, beforeAll } from 'vitest';

export interface TransferBundle {
  /** The bundled sendense-transfer.mjs (read it inside tests). */
  readonly runner: string;
}

export function useTransferBundle(): TransferBundle {
  let dir = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'transfer-bundle-'));
    await build({
      ...(await transferBundleOptions()),
      entryPoints: ['runners/sendense-transfer.ts'],
      outfile: join(dir, 'sendense-transfer.mjs'),
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    get runner() {
      return join(dir, 'sendense-transfer.mjs');
    },
  };
}
