// The node transfer's rate (docs/bandwidth.md): --rate at start, control lines on stdin change it
// while it runs (acknowledged by a rate line from the same process), a bad value is a usage error.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { argsOnStdinLine, formatControlLine, type TransferRequest } from '../../src/wire/index.js';
import { imagesEqual, qemuImg, qemuIo } from '../support/images.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { useTransferBundle } from '../support/transfer-bundle.js';

const MiB = 1024 * 1024;
const bundle = useTransferBundle();
const ws = useRunWorkspace('transfer-rate-');

interface Line {
  readonly type: string;
  readonly [key: string]: unknown;
}

// Runs the bundled transfer; `input` is written to its stdin at once, `onLine` may write more.
function transfer(args: string[], input: string, onLine?: (line: Line, write: (text: string) => void) => void) {
  const child = spawn(process.execPath, [bundle.runner, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: (Line & { at: number })[] = [];
  let stdout = '';
  let stderr = '';
  const started = performance.now();
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (let end = stdout.indexOf('\n'); end >= 0; end = stdout.indexOf('\n')) {
      const line = JSON.parse(stdout.slice(0, end)) as Line;
      stdout = stdout.slice(end + 1);
      lines.push({ ...line, at: performance.now() - started });
      onLine?.(line, (text) => child.stdin.write(text));
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  if (input !== '') child.stdin.write(input);
  return new Promise<{
    code: number | null;
    lines: (Line & { at: number })[];
    stderr: string;
    pid: number;
    seconds: number;
  }>((resolve) => {
    child.once('close', (code) =>
      resolve({ code, lines, stderr, pid: child.pid!, seconds: (performance.now() - started) / 1000 }),
    );
  });
}

function sourceAndTarget(size: string, data: string): { source: string; target: string } {
  const source = join(ws.dir, 'src.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', source, size);
  qemuIo(source, `write -P 0x5a 0 ${data}`);
  const target = join(ws.dir, 'target.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', target, size);
  return { source, target };
}

describe('the node transfer rate', () => {
  it('a rate changed on stdin while it runs: the same process says each rate, and the copy is exact', async () => {
    const { source, target } = sourceAndTarget('64M', '32M');
    let sent = false;
    // 32 MiB at 128 KiB/s would take four minutes, past this test's timeout: only the changed rate ends it.
    const run = await transfer(
      ['--nbd-targets', `2000:file:qcow2:${target}`, '--source', `2000=qemu:${source}`, '--rate', String(128 * 1024)],
      '',
      (line, write) => {
        // Once it is moving at 128 KiB/s: a line it does not know (said on stderr, skipped), then 32 MiB/s.
        if (line.type === 'progress' && (line.bytesDone as number) > 0 && !sent) {
          sent = true;
          write('{"speed":1}\n');
          write(formatControlLine({ rate: 32 * MiB }));
        }
      },
    );
    expect(run.code, run.stderr).toBe(0);
    const rates = run.lines.filter((line) => line.type === 'rate');
    expect(rates.map(({ bytesPerSecond, pid }) => ({ bytesPerSecond, pid }))).toEqual([
      { bytesPerSecond: 128 * 1024, pid: run.pid },
      { bytesPerSecond: 32 * MiB, pid: run.pid },
    ]);
    expect(run.stderr).toContain('ignored a control line it does not know: {"speed":1}');
    expect(imagesEqual(source, target)).toBe(true);
  });

  it('started ahead of its job: control lines right after the request line are not lost', async () => {
    const { source, target } = sourceAndTarget('32M', '16M');
    const request: TransferRequest = {
      disks: [
        { key: 2000, source: { kind: 'qemu', path: source }, target: { kind: 'file', path: target, format: 'qcow2' } },
      ],
      rate: 64 * 1024,
    };
    // One write: the request at 64 KiB/s (four minutes for this disk, past the test's timeout) and at once no limit.
    const run = await transfer(['--args-on-stdin'], argsOnStdinLine(request) + formatControlLine({ rate: null }));
    expect(run.code, run.stderr).toBe(0);
    expect(run.lines.filter((line) => line.type === 'rate').map((line) => line.bytesPerSecond)).toEqual([
      64 * 1024,
      null,
    ]);
    expect(imagesEqual(source, target)).toBe(true);
  });

  it('--rate that is not a whole number of bytes per second: exit 2', async () => {
    for (const rate of ['0', '8MiB', '1.5']) {
      const run = await transfer(
        ['--nbd-targets', '2000:nbd://127.0.0.1:1/x', '--source', '2000=qemu:/x', '--rate', rate],
        '',
      );
      expect(run.code).toBe(2);
      expect(run.stderr).toBe(
        `sendense-transfer: --rate ${rate}: must be a whole number of bytes per second, at least 1\n`,
      );
    }
  });
});
