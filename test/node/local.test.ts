import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { SendenseError } from '../../src/errors.js';
import { createLocalNode } from '../../src/node/local.js';
import { findPackageRoot, transferBundlePath } from '../../src/node/package-root.js';
import { NotedProcesses, pidExists } from '../support/processes.js';

const node = createLocalNode();
const started = new NotedProcesses();
const temps: string[] = [];

afterEach(async () => {
  started.killAll();
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('local node exec', () => {
  it('returns the exit code and output instead of throwing', async () => {
    const result = await node.exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(result).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('passes argv without a shell and env through the environment', async () => {
    const result = await node.exec(['printf', '%s|%s', '$HOME; rm -rf /', 'x'], {});
    expect(result.stdout).toBe('$HOME; rm -rf /|x');
    const env = await node.exec(['sh', '-c', 'printf %s "$SECRET_THING"'], { env: { SECRET_THING: 'p4ss' } });
    expect(env.stdout).toBe('p4ss');
  });

  it('reports a missing program as exit code 127', async () => {
    const result = await node.exec(['/nonexistent/program']);
    expect(result.exitCode).toBe(127);
    expect(result.stderr).toMatch(/ENOENT|nonexistent/);
  });
});

describe('local node spawn', () => {
  it('delivers stdout lines and keeps stderr', async () => {
    const child = node.spawn(['sh', '-c', 'printf "a\\nb\\nc"; echo oops >&2']);
    started.add(child.pid);
    const lines: string[] = [];
    child.onStdoutLine((line) => lines.push(line));
    expect(await child.exited).toEqual({ exitCode: 0, signal: null });
    expect(lines).toEqual(['a', 'b', 'c']);
    expect(child.stderrText()).toBe('oops\n');
  });

  it('lets the child see its stdin close on stop()', async () => {
    const child = node.spawn(['sh', '-c', 'cat >/dev/null; echo stdin-closed; exit 7']);
    started.add(child.pid);
    const lines: string[] = [];
    child.onStdoutLine((line) => lines.push(line));
    await new Promise((resolve) => setTimeout(resolve, 200));
    await child.stop(5000);
    expect(await child.exited).toEqual({ exitCode: 7, signal: null });
    expect(lines).toEqual(['stdin-closed']);
  });

  it('stop() terminates a child that ignores stdin, and the PID is gone', async () => {
    const child = node.spawn(['sleep', '60']);
    started.add(child.pid);
    expect(child.pid).toBeTypeOf('number');
    await child.stop(300);
    expect((await child.exited).signal).toBe('SIGTERM');
    expect(pidExists(child.pid!)).toBe(false);
  });

  it('stop() escalates to SIGKILL when SIGTERM is ignored', async () => {
    const child = node.spawn(['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.1; done']);
    started.add(child.pid);
    await new Promise<void>((resolve) => child.onStdoutLine(() => resolve()));
    await child.stop(300);
    expect((await child.exited).signal).toBe('SIGKILL');
    expect(pidExists(child.pid!)).toBe(false);
  });
});

describe('local node forwards and transfer command', () => {
  it('maps every port to itself', async () => {
    const forwards = await node.forwardPorts([10100, 10101]);
    expect([...forwards.nodePorts]).toEqual([
      [10100, 10100],
      [10101, 10101],
    ]);
    await forwards.close();
  });

  it('finds the package root and runs the bundle with this node binary', async () => {
    const root = findPackageRoot();
    const fake = await mkdtemp(join(tmpdir(), 'sendense-root-'));
    temps.push(fake);
    await mkdir(join(fake, 'runners', 'dist'), { recursive: true });
    await writeFile(join(fake, 'package.json'), JSON.stringify({ name: 'sendense-run' }));
    expect(() => transferBundlePath(fake)).toThrow(SendenseError);
    expect(() => transferBundlePath(fake)).toThrow(/npm run build/);
    await writeFile(join(fake, 'runners', 'dist', 'sendense-transfer.mjs'), 'console.log("hi")\n');
    expect(transferBundlePath(fake)).toBe(join(fake, 'runners', 'dist', 'sendense-transfer.mjs'));
    expect(existsSync(join(root, 'package.json')) && existsSync(join(root, 'runners'))).toBe(true);
    const withBundle = createLocalNode({ transferBundle: transferBundlePath(fake) });
    const argv = await withBundle.transferCommand();
    expect(argv[0]).toBe(process.execPath);
    expect((await node.exec([...argv])).stdout).toBe('hi\n');
  });
});

describe('local node exec under a terminal Ctrl+C', () => {
  // A tty's Ctrl+C goes to the whole foreground process group. A command started in that instant
  // is still in the group before it makes its own session, and dies of the SIGINT before its
  // program runs: it must run again, or a recovery's move fails on a `virsh` that never ran.
  it('runs every command to its end while SIGINT keeps reaching the process group', async () => {
    const built = path.resolve('dist/src/node/local.js');
    if (!existsSync(built))
      throw new Error('this test runs the built node module: run `npm run build` first (scripts/test.sh does)');
    // The fixture leads a process group of its own, so the SIGINTs reach only it and its children.
    // Until 150 commands and 150 SIGINTs (4 s on a quiet machine), or 50 s.
    const child = execa(process.execPath, [path.resolve('test/fixtures/exec-under-ctrl-c.mjs'), built, '50', '150'], {
      detached: true,
      reject: false,
      timeout: 80_000,
    });
    started.add(child.pid);
    const result = await child;
    expect(result.exitCode, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { runs: number; wrong: number; codes: number[]; interrupts: number };
    // The race was really run: many commands, many SIGINTs.
    expect(report.runs).toBeGreaterThan(100);
    expect(report.interrupts).toBeGreaterThan(100);
    expect(report.wrong, `commands that ended otherwise than they ran: ${JSON.stringify(report)}`).toBe(0);
  }, 90_000);
});
