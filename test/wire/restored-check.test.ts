// --check-restored's request and answer (src/wire/restored-check.ts): what the hub writes the node
// transfer reads back as it was written, a request it cannot trust is one clear error, and the
// built transfer answers a bad request with one line on stderr and exit status 2. stdin is its
// lifeline: closed before the answer (the hub gone), the check stops instead of reading on.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { rangeDigest } from '../../src/repository/range-digest.js';
import {
  CHECK_RESTORED,
  formatRestoredCheckLine,
  formatRestoredCheckRequest,
  parseRestoredCheckLine,
  parseRestoredCheckRequest,
  type RestoredCheckLine,
  type RestoredCheckRequest,
} from '../../src/wire/index.js';
import { transferBundlePath } from '../../src/node/package-root.js';

const request: RestoredCheckRequest = {
  image: { kind: 'file', format: 'qcow2', path: '/var/lib/restore/disk-2000.qcow2' },
  size: 64 * 1024 * 1024,
  checks: [
    { offset: 0, length: 4096, algorithm: 'xxh64', digest: '9f86d0e3a1b2c4d5' },
    { offset: 2097152, length: 2097152, algorithm: 'sha256', digest: 'ab'.repeat(32) },
  ],
  zeroes: [[4096, 2093056]],
};

describe('--check-restored on the wire', () => {
  it('reads back the request the hub writes, for a file and an NBD image', () => {
    expect(parseRestoredCheckRequest(formatRestoredCheckRequest(request).trim())).toEqual(request);
    const nbd = { ...request, image: { kind: 'nbd', url: 'nbd://127.0.0.1:10100/disk' } } as const;
    expect(parseRestoredCheckRequest(formatRestoredCheckRequest(nbd).trim())).toEqual(nbd);
  });

  it('reads back every answer, and nothing else', () => {
    const answers: RestoredCheckLine[] = [
      { outcome: 'equal', bytes: 7340032 },
      { outcome: 'different', bytes: 4096, offset: 52428800 },
      { outcome: 'unknown', bytes: 0, why: 'the image cannot say where it holds data' },
      { outcome: 'error', bytes: 0, why: 'target image /x does not exist' },
    ];
    for (const answer of answers) expect(parseRestoredCheckLine(formatRestoredCheckLine(answer))).toEqual(answer);
    for (const text of [
      '',
      'equal',
      '{"outcome":"equal"}',
      '{"outcome":"different","bytes":1}',
      '{"outcome":"maybe","bytes":1}',
    ])
      expect(parseRestoredCheckLine(text)).toBeUndefined();
  });

  it('refuses a request it cannot trust, naming what is wrong', () => {
    const bad = (text: string) => () => parseRestoredCheckRequest(text);
    expect(bad('not json')).toThrow('--check-restored: the request is not JSON');
    expect(bad('{"size":1,"checks":[],"zeroes":[]}')).toThrow('--check-restored: no image');
    expect(bad('{"image":"file:vmdk:/x","size":1,"checks":[],"zeroes":[]}')).toThrow('format must be qcow2 or raw');
    expect(bad('{"image":"file:raw:/x","size":1,"checks":[[0,-1,"xxh64","ab"]],"zeroes":[]}')).toThrow(
      'a check is not [offset, length, algorithm, digest]',
    );
    expect(bad('{"image":"file:raw:/x","size":1,"checks":[],"zeroes":[[0]]}')).toThrow(
      'a zero range is not [offset, length]',
    );
  });

  it('the built node transfer answers a bad request with one line on stderr and exit status 2', () => {
    const result = spawnSync(process.execPath, [transferBundlePath(), CHECK_RESTORED], {
      input: '{"image":"file:raw:relative","size":1,"checks":[],"zeroes":[]}\n',
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^sendense-transfer: /);
  });

  it('the built node transfer stops its check when stdin closes before its answer, and answers while stdin stays open', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sendense-check-restored-'));
    const children: ChildProcess[] = [];
    onTestFinished(() => {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    // A raw disk of 64 MiB of data, and what the hub would send for it: every 4 MiB with its digest.
    const disk = path.join(dir, 'disk.raw');
    const bytes = randomBytes(64 * 1024 * 1024);
    writeFileSync(disk, bytes);
    const checks = [];
    for (let offset = 0; offset < bytes.length; offset += 4 * 1024 * 1024)
      checks.push({
        offset,
        length: 4 * 1024 * 1024,
        algorithm: 'xxh64',
        digest: await rangeDigest('xxh64', bytes.subarray(offset, offset + 4 * 1024 * 1024)),
      });
    const line = formatRestoredCheckRequest({
      image: { kind: 'file', format: 'raw', path: disk },
      size: bytes.length,
      checks,
      zeroes: [],
    });
    // The hub's way: the request, stdin open until the answer comes.
    const check = (closeAfterRequest: boolean) =>
      new Promise<{ status: number | null; stdout: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [transferBundlePath(), CHECK_RESTORED], { stdio: 'pipe' });
        children.push(child);
        let stdout = '';
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('\n')) child.stdin.end();
        });
        child.once('error', reject);
        child.once('close', (status) => resolve({ status, stdout }));
        child.stdin.write(line);
        // What sshd does when the hub is killed (or the run gives up) while the check runs.
        if (closeAfterRequest) child.stdin.end();
      });
    const abandoned = await check(true);
    expect([abandoned.status, parseRestoredCheckLine(abandoned.stdout.trim())]).toEqual([
      1,
      { outcome: 'error', bytes: 0, why: 'stopped: stdin closed' },
    ]);
    const answered = await check(false);
    expect([answered.status, parseRestoredCheckLine(answered.stdout.trim())]).toEqual([
      0,
      { outcome: 'equal', bytes: bytes.length },
    ]);
  }, 60_000);
});
