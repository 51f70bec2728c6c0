// What the transfer needs to know about a qemu: source before serving it: its format and its
// persistent dirty bitmaps (qemu-img info --output=json, -U so a shared lock is enough).

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { SendenseError } from '../../src/errors.js';
import { bitmapProblem } from '../../src/qemu/bitmap-health.js';

export interface ImageInfo {
  readonly format: string;
  readonly virtualSize: number;
  readonly bitmaps: ReadonlyArray<{ readonly name: string; readonly flags: readonly string[] }>;
}

const run = promisify(execFile);

// format: when the plan names it, never probe (a raw disk may hold bytes that look like qcow2).
export async function readImageInfo(path: string, disk: number, format?: string): Promise<ImageInfo> {
  if (!existsSync(path)) throw new SendenseError(`source image ${path} does not exist`, { disk });
  let stdout: string;
  try {
    ({ stdout } = await run('qemu-img', ['info', '-U', '--output=json', ...(format ? ['-f', format] : []), path], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new SendenseError(`cannot read image ${path}: ${stderr || (error as Error).message}`, { disk, cause: error });
  }
  const json = JSON.parse(stdout) as {
    format: string;
    'virtual-size': number;
    'format-specific'?: { data?: { bitmaps?: Array<{ name: string; flags?: string[] }> } };
  };
  const bitmaps = (json['format-specific']?.data?.bitmaps ?? []).map((bitmap) => Object.freeze({ name: bitmap.name, flags: Object.freeze(bitmap.flags ?? []) }));
  return Object.freeze({ format: json.format, virtualSize: json['virtual-size'], bitmaps: Object.freeze(bitmaps) });
}

// An incremental needs the bitmap present and consistent (SPEC section 2): say which and where.
export function checkBitmap(info: ImageInfo, path: string, bitmap: string, disk: number): void {
  const states = info.bitmaps.map((candidate) => ({ name: candidate.name, inUse: candidate.flags.includes('in-use'), enabled: candidate.flags.includes('auto') }));
  const problem = bitmapProblem(states, bitmap);
  if (problem === 'missing') {
    const others = info.bitmaps.map((candidate) => candidate.name).join(', ') || 'none';
    throw new SendenseError(`bitmap '${bitmap}' not found in ${path} (bitmaps there: ${others})`, { disk });
  }
  if (problem === 'inconsistent') throw new SendenseError(`bitmap '${bitmap}' in ${path} is inconsistent (in-use: the image was not closed cleanly)`, { disk });
  if (problem === 'disabled') throw new SendenseError(`bitmap '${bitmap}' in ${path} is disabled (it stopped recording writes)`, { disk });
}
