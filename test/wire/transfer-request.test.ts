// The node transfer's request: what the hub builds is what the node reads back, for every kind of
// source and target and every option; a bad command line is one usage error naming the option.

import { describe, expect, it } from 'vitest';
import { SendenseError } from '../../src/errors.js';
import {
  ARGS_ON_STDIN,
  argsOnStdinLine,
  parseArgsOnStdinLine,
  parseTransferArgv,
  transferArgv,
  type TransferDisk,
  type TransferRequest,
  type TransferSource,
  type TransferTarget,
} from '../../src/wire/index.js';

const sources: Record<string, TransferSource> = {
  'a qemu image, format probed': { kind: 'qemu', path: '/vms/d0.qcow2' },
  'a qemu qcow2 image': { kind: 'qemu', path: '/vms/d0.qcow2', format: 'qcow2' },
  'a qemu raw image': { kind: 'qemu', path: '/vms/d0.img', format: 'raw' },
  'an NBD export over TCP': { kind: 'nbd', url: 'nbd://127.0.0.1:10809/disk1' },
  'an NBD export on a Unix socket': { kind: 'nbd', url: 'nbd+unix:///disk1?socket=/run/nbd.sock' },
};
const targets: Record<string, TransferTarget> = {
  'an NBD export over TCP': { kind: 'nbd', url: 'nbd://127.0.0.1:10100/pgtest1-disk-2000' },
  'an NBD export on a Unix socket': { kind: 'nbd', url: 'nbd+unix:///t?socket=/tmp/t.sock' },
  'a qcow2 file': { kind: 'file', path: '/restore/d0.qcow2', format: 'qcow2' },
  'a raw file': { kind: 'file', path: '/restore/d0.img', format: 'raw' },
};

function roundTrip(request: TransferRequest): TransferRequest {
  return parseTransferArgv(transferArgv(request));
}

describe('a transfer request read back from its argv', () => {
  for (const [sourceName, source] of Object.entries(sources)) {
    for (const [targetName, target] of Object.entries(targets)) {
      for (const bitmap of [undefined, 'sendense-c1-b1']) {
        it(`${sourceName} into ${targetName}${bitmap ? ', incremental' : ''}`, () => {
          const disk: TransferDisk =
            bitmap === undefined ? { key: 2000, source, target } : { key: 2000, source, target, bitmap };
          const request: TransferRequest = { disks: [disk] };
          expect(roundTrip(request)).toStrictEqual(request);
        });
      }
    }
  }

  it('every option, several disks', () => {
    const request: TransferRequest = {
      disks: [
        { key: 2000, source: sources['a qemu qcow2 image']!, target: targets['an NBD export over TCP']!, bitmap: 'b1' },
        { key: 2001, source: sources['an NBD export over TCP']!, target: targets['a raw file']! },
        {
          key: 7,
          source: sources['a qemu image, format probed']!,
          target: targets['an NBD export on a Unix socket']!,
          bitmap: 'b2',
        },
      ],
      jobId: 'run-20261121-020000-7f3a',
      connections: 2,
      parallelDisks: 1,
      inFlight: 8,
      zeroHoles: true,
      digests: false,
      align: 65536,
      rate: 16777216,
    };
    expect(roundTrip(request)).toStrictEqual(request);
  });

  it('a disk the hub marked for qemu-img, beside one over NBD', () => {
    const request: TransferRequest = {
      disks: [
        { key: 2000, source: sources['a qemu raw image']!, target: targets['a qcow2 file']!, copy: 'qemu-img' },
        { key: 2001, source: sources['a qemu qcow2 image']!, target: targets['an NBD export over TCP']! },
      ],
      jobId: 'j',
    };
    expect(transferArgv(request)).toContain('2000=qemu-img');
    expect(roundTrip(request)).toStrictEqual(request);
  });

  it('started ahead of its job: the same request as the first line of stdin', () => {
    const request: TransferRequest = {
      disks: [{ key: 2000, source: sources['an NBD export over TCP']!, target: targets['a qcow2 file']! }],
      jobId: 'j',
      digests: false,
      align: 65536,
    };
    const line = argsOnStdinLine(request);
    expect(line.endsWith('\n')).toBe(true);
    expect(JSON.parse(line)).toEqual(transferArgv(request));
    expect(parseArgsOnStdinLine(line.trimEnd())).toStrictEqual(request);
    expect(ARGS_ON_STDIN).toBe('--args-on-stdin');
  });

  it('the command line is the one runners/README.md gives', () => {
    const argv = transferArgv({
      disks: [
        {
          key: 2000,
          source: { kind: 'qemu', path: '/vms/d0.qcow2', format: 'qcow2' },
          target: { kind: 'nbd', url: 'nbd://127.0.0.1:10100/vm-disk-2000' },
          bitmap: 'b1',
        },
      ],
      jobId: 'run-1',
    });
    expect(argv).toEqual([
      '--job-id',
      'run-1',
      '--nbd-targets',
      '2000:nbd://127.0.0.1:10100/vm-disk-2000',
      '--source',
      '2000=qemu:/vms/d0.qcow2',
      '--format',
      '2000=qcow2',
      '--bitmap',
      '2000=b1',
    ]);
  });
});

describe('a bad transfer command line', () => {
  const cases: [string, string[], string][] = [
    ['no targets', ['--source', '2000=qemu:/x'], '--nbd-targets is required'],
    [
      'a target without a source',
      ['--nbd-targets', '2000:nbd://127.0.0.1:1/x', '--source', '2001=qemu:/x'],
      'disk 2000 is in --nbd-targets but has no --source 2000=...',
    ],
    [
      'a relative image path',
      ['--nbd-targets', '2000:nbd://h:1/x', '--source', '2000=qemu:d0.qcow2'],
      '--source 2000=qemu:d0.qcow2: the image path must be absolute',
    ],
    [
      'an unknown format',
      ['--nbd-targets', '2000:nbd://h:1/x', '--source', '2000=qemu:/x', '--format', '2000=vmdk'],
      '--format 2000=vmdk: format must be qcow2 or raw',
    ],
    [
      'a format for an NBD source',
      ['--nbd-targets', '2000:nbd://h:1/x', '--source', '2000=nbd://h:2/y', '--format', '2000=raw'],
      '--format 2000=raw: only qemu: sources take a format',
    ],
    [
      'a disk key twice',
      ['--nbd-targets', '2000:nbd://h:1/x,2000:nbd://h:1/y', '--source', '2000=qemu:/x'],
      "--nbd-targets: '2000:nbd://h:1/y' must be KEY:URL with each disk key once",
    ],
    [
      'too many connections',
      ['--nbd-targets', '2000:nbd://h:1/x', '--source', '2000=qemu:/x', '--connections', '65'],
      '--connections 65: must be an integer from 1 to 64',
    ],
    [
      'a bitmap for no disk',
      ['--nbd-targets', '2000:nbd://h:1/x', '--source', '2000=qemu:/x', '--bitmap', '2001=b'],
      'disk 2001 has a --source/--bitmap/--format/--copy but no entry in --nbd-targets',
    ],
    ...copyCases(),
    ...['65537', '256', '4194304', '0x10000', '64k', '1024.0', ''].map((align): [string, string[], string] => [
      `an --align of '${align}'`,
      ['--nbd-targets', '2000:nbd://h:1/x', '--source', '2000=qemu:/x', '--align', align],
      `--align ${align}: must be a power of two from 512 to 2097152`,
    ]),
    ...['0', 'fast', '1.5', '8MiB', '9007199254740993', ''].map((rate): [string, string[], string] => [
      `a --rate of '${rate}'`,
      ['--nbd-targets', '2000:nbd://h:1/x', '--source', '2000=qemu:/x', '--rate', rate],
      `--rate ${rate}: must be a whole number of bytes per second, at least 1`,
    ]),
    [
      'a URL that is not NBD',
      ['--nbd-targets', '2000:http://h/x', '--source', '2000=qemu:/x'],
      "--nbd-targets: NBD URL 'http://h/x': scheme 'http' is not supported (TLS is not implemented)",
    ],
  ];
  for (const [name, argv, message] of cases) {
    it(name, () => {
      let error: unknown;
      try {
        parseTransferArgv(argv);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(SendenseError);
      expect((error as SendenseError).message).toBe(message);
      expect((error as SendenseError).exitCode).toBe(2);
    });
  }

  it('a first line on stdin that is not a JSON array of strings', () => {
    for (const line of ['not json', '{"a":1}', '[1,2]']) {
      expect(() => parseArgsOnStdinLine(line)).toThrow(
        '--args-on-stdin: the first line must be a JSON array of strings',
      );
    }
  });
});

describe('--align', () => {
  it('takes every power of two from 512 to 2 MiB', () => {
    for (let align = 512; align <= 2 * 1024 * 1024; align *= 2) {
      expect(
        parseTransferArgv(['--nbd-targets', '2000:nbd://h:1/x', '--source', '2000=qemu:/x', '--align', String(align)])
          .align,
      ).toBe(align);
    }
  });
});

// --copy KEY=qemu-img only where qemu-img can copy: what the hub never asks is refused, not done otherwise.
function copyCases(): [string, string[], string][] {
  const fileFull = [
    '--nbd-targets',
    '2000:file:qcow2:/b/new.qcow2',
    '--source',
    '2000=qemu:/x',
    '--format',
    '2000=raw',
  ];
  return [
    ['a copy by something else', [...fileFull, '--copy', '2000=dd'], '--copy 2000=dd: the only copy is qemu-img'],
    [
      'a copy into an NBD target',
      [
        '--nbd-targets',
        '2000:nbd://h:1/x',
        '--source',
        '2000=qemu:/x',
        '--format',
        '2000=raw',
        '--copy',
        '2000=qemu-img',
      ],
      '--copy 2000=qemu-img: needs a qemu: source with its --format and a file: target',
    ],
    [
      'a copy of a source whose format is not named',
      ['--nbd-targets', '2000:file:qcow2:/b/new.qcow2', '--source', '2000=qemu:/x', '--copy', '2000=qemu-img'],
      '--copy 2000=qemu-img: needs a qemu: source with its --format and a file: target',
    ],
    [
      'a copy of an incremental',
      [...fileFull, '--bitmap', '2000=b1', '--copy', '2000=qemu-img'],
      '--copy 2000=qemu-img: a full only, not with --bitmap',
    ],
    [
      'a copy with a rate and aligned blocks',
      [...fileFull, '--copy', '2000=qemu-img', '--rate', '1000', '--align', '65536'],
      '--copy: qemu-img cannot copy with --align, --rate',
    ],
    [
      'a copy without digests',
      [...fileFull, '--copy', '2000=qemu-img', '--no-digests'],
      '--copy: qemu-img cannot copy with --no-digests',
    ],
    [
      'a copy of no disk',
      [...fileFull, '--copy', '2001=qemu-img'],
      'disk 2001 has a --source/--bitmap/--format/--copy but no entry in --nbd-targets',
    ],
  ];
}
