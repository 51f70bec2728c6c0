// The node transfer's output lines: every type it writes is read back by the hub as it was
// written; what another program (the VMware client) may leave out gets the hub's defaults.

import { describe, expect, it } from 'vitest';
import {
  formatControlLine,
  formatTransferLine,
  parseControlLine,
  parseTransferLine,
  type TransferLine,
} from '../../src/wire/index.js';

const lines: Record<TransferLine['type'], TransferLine> = {
  start: { type: 'start', disk: 2000, virtualSize: 4294967296, bytesToDo: 2147483648 },
  progress: { type: 'progress', disk: 2000, bytesDone: 1073741824, bytesToDo: 2147483648 },
  done: {
    type: 'done',
    disk: 2000,
    bytesDone: 2147483648,
    bytesWritten: 2000000000,
    bytesZeroed: 147483648,
    bytesToDo: 2147483648,
    seconds: 5.9,
  },
  digests: {
    type: 'digests',
    disk: 2000,
    algorithm: 'xxh64',
    data: [[0, 2097152, '9f86d0e3a1b2c4d5']],
    zero: [[2097152, 1048576]],
  },
  error: { type: 'error', disk: 2000, message: "bitmap 'x' not found in /path/disk0.qcow2" },
  result: {
    type: 'result',
    ok: false,
    disks: [
      { disk: 2000, ok: false, error: 'stopped' },
      { disk: 2001, ok: true, bytesDone: 10, bytesWritten: 8, bytesZeroed: 2, bytesToDo: 10, seconds: 0.5 },
    ],
  },
  rate: { type: 'rate', bytesPerSecond: 16777216, pid: 4321 },
  debug: { type: 'debug', disk: 2000, message: 'qemu-nbd started', pid: 1234, role: 'source', path: '/vms/d0.qcow2' },
};

describe('an output line written by the transfer and read by the hub', () => {
  for (const [type, line] of Object.entries(lines)) {
    it(`${type}`, () => {
      const text = formatTransferLine(line);
      expect(text).not.toContain('\n');
      expect(parseTransferLine(text)).toStrictEqual(line);
    });
  }

  it("the VMware client's done line with its change id and size", () => {
    const line: TransferLine = {
      type: 'done',
      disk: 2000,
      bytesDone: 5,
      bytesToDo: 5,
      changeId: '52 66 8c 2d/5440',
      virtualSize: 1048576,
    };
    expect(parseTransferLine(formatTransferLine(line))).toStrictEqual(line);
  });

  it('a rate line: no limit is null; a rate that is not a count is ignored', () => {
    expect(parseTransferLine('{"type":"rate","bytesPerSecond":null,"pid":7}')).toStrictEqual({
      type: 'rate',
      bytesPerSecond: null,
      pid: 7,
    });
    expect(parseTransferLine('{"type":"rate","bytesPerSecond":"fast"}')).toBeUndefined();
  });
});

describe("a control line the hub writes on the transfer's stdin", () => {
  it('a rate, and no limit, read back as written', () => {
    for (const control of [{ rate: 8388608 }, { rate: null }]) {
      const text = formatControlLine(control);
      expect(text.endsWith('\n') && text.indexOf('\n') === text.length - 1).toBe(true);
      expect(parseControlLine(text.trim())).toStrictEqual(control);
    }
  });

  it('anything else is not a control line', () => {
    for (const text of [
      '{"rate":0}',
      '{"rate":-5}',
      '{"rate":1.5}',
      '{"rate":"8MiB/s"}',
      '{"speed":1}',
      'rate 5',
      '[1]',
    ])
      expect(parseControlLine(text), text).toBeUndefined();
  });
});

describe('a line the hub reads from another program', () => {
  it('not JSON: text to show', () => {
    expect(parseTransferLine('connecting to vCenter…')).toStrictEqual({ type: 'text', text: 'connecting to vCenter…' });
  });

  it('an unknown type, or without the disk it needs: ignored', () => {
    expect(parseTransferLine('{"type":"hello","disk":2000}')).toBeUndefined();
    expect(parseTransferLine('{"type":"progress","bytesDone":1,"bytesToDo":2}')).toBeUndefined();
    expect(parseTransferLine('42')).toBeUndefined();
  });

  it('what may be left out gets the defaults', () => {
    expect(parseTransferLine('{"type":"start","disk":2000,"virtualSize":100}')).toStrictEqual({
      type: 'start',
      disk: 2000,
      virtualSize: 100,
    });
    expect(parseTransferLine('{"type":"done","disk":2000,"changeId":"c"}')).toStrictEqual({
      type: 'done',
      disk: 2000,
      bytesDone: 0,
      bytesToDo: 0,
      changeId: 'c',
    });
    expect(parseTransferLine('{"type":"error","message":"vCenter login failed"}')).toStrictEqual({
      type: 'error',
      message: 'vCenter login failed',
    });
    expect(parseTransferLine('{"type":"error","disk":2000}')).toStrictEqual({
      type: 'error',
      disk: 2000,
      message: 'unknown error',
    });
  });
});
