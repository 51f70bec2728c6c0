// `qemu-img info` of one image: size, format, backing file, persistent bitmaps.

import { runLocal, type CommandRunner } from './command-runner.js';
import { qemuImgError } from './qemu-img-error.js';

export interface BitmapInfo {
  readonly name: string;
  /** Stored "in-use": on an image nobody has open, the bitmap was not saved cleanly (inconsistent). */
  readonly inUse: boolean;
  /** Recording writes ("auto" flag). */
  readonly enabled: boolean;
  readonly granularity: number;
}

export interface ImageInfo {
  readonly format: string;
  readonly virtualSize: number;
  readonly actualSize: number;
  /** As stored in the image (may be relative to the image's directory). */
  readonly backingFilename?: string;
  readonly backingFormat?: string;
  readonly bitmaps: readonly BitmapInfo[];
  readonly corrupt: boolean;
  /** qcow2 only: false for compat 0.10 (qcow2 v2) images, which cannot store persistent bitmaps. */
  readonly canStoreBitmaps: boolean;
}

export interface ImageInfoOptions {
  readonly runner?: CommandRunner;
  /** qemu-img -U: read even while another process has the image open (values may be stale). */
  readonly forceShare?: boolean;
  /** -f: the format to open it as (never probe an NBD export or a raw disk: its content could look like qcow2). */
  readonly format?: string;
  /** Said after "in use by another process (locked)" when another process holds the image's lock. */
  readonly whenLocked?: string;
}

interface RawInfo {
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'backing-filename'?: string;
  'backing-filename-format'?: string;
  'format-specific'?: {
    data?: {
      corrupt?: boolean;
      compat?: string;
      bitmaps?: { name: string; flags: string[]; granularity: number }[];
    };
  };
}

export async function imageInfo(file: string, options: ImageInfoOptions = {}): Promise<ImageInfo> {
  return imageInfoWith(options.runner ?? runLocal, file, options);
}

// The same with the runner given: code that must not load execa (the node transfer's bundle) calls this.
export async function imageInfoWith(
  runner: CommandRunner,
  file: string,
  options: Omit<ImageInfoOptions, 'runner'> = {},
): Promise<ImageInfo> {
  const argv = [
    'qemu-img',
    'info',
    '--output=json',
    ...(options.forceShare ? ['-U'] : []),
    ...(options.format ? ['-f', options.format] : []),
    file,
  ];
  const result = await runner(argv);
  if (result.exitCode !== 0) throw qemuImgError('read image', file, result, options.whenLocked);
  const raw = JSON.parse(result.stdout) as RawInfo;
  const data = raw['format-specific']?.data;
  return Object.freeze({
    format: raw.format,
    virtualSize: raw['virtual-size'],
    actualSize: raw['actual-size'] ?? 0,
    backingFilename: raw['backing-filename'],
    backingFormat: raw['backing-filename-format'],
    bitmaps: Object.freeze(
      (data?.bitmaps ?? []).map((bitmap) =>
        Object.freeze({
          name: bitmap.name,
          inUse: bitmap.flags.includes('in-use'),
          enabled: bitmap.flags.includes('auto'),
          granularity: bitmap.granularity,
        }),
      ),
    ),
    corrupt: data?.corrupt === true,
    canStoreBitmaps: raw.format === 'qcow2' && data?.compat !== '0.10',
  });
}
