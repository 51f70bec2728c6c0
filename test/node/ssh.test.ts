import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { execa } from 'execa';
import { SendenseError } from '../../src/errors.js';
import type { NodeHost } from '../../src/node/node.js';
import { connectSshNode } from '../../src/node/ssh.js';
import type { NodeSpec } from '../../src/plan/types.js';
import { startQemuNbd } from '../../src/qemu/qemu-nbd.js';
import { asNobody } from '../support/other-user-cli.js';
import { freePort } from '../support/free-port.js';
import { DEADLINE_UNDER_LOAD_MS, NotedProcesses, pidExists } from '../support/processes.js';
import { descendants, startSshd, type TestSshd } from '../support/sshd.js';

let sshd: TestSshd;
let work: string;
const nodes: NodeHost[] = [];
const pids = new NotedProcesses();

beforeAll(async () => {
  sshd = await startSshd();
  work = await mkdtemp(join(tmpdir(), 'sendense-ssh-test-'));
}, 30_000);

afterAll(async () => {
  await sshd?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

afterEach(async () => {
  for (const node of nodes.splice(0)) await node.close();
  pids.killAll();
});

function spec(overrides: Partial<NodeSpec> = {}): NodeSpec {
  return {
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    knownHosts: sshd.knownHosts,
    ...overrides,
  };
}

async function connect(overrides: Partial<NodeSpec> = {}, options = {}): Promise<NodeHost> {
  const node = await connectSshNode(spec(overrides), { agent: false, ...options });
  nodes.push(node);
  return node;
}

async function sessionsOfSshd(): Promise<number[]> {
  return descendants(sshd.pid);
}

describe('ssh node: commands', () => {
  it('runs argv with awkward arguments exactly and reports exit codes', async () => {
    const node = await connect();
    expect(node.description).toBe(`${sshd.user}@127.0.0.1:${sshd.port}`);
    const tricky = ["it's", '$HOME', '; rm -rf /', 'a b', '"q"', '`id`', ''];
    const result = await node.exec(['printf', '[%s]', ...tricky]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(tricky.map((word) => `[${word}]`).join(''));
    const failing = await node.exec(['sh', '-c', 'echo out; echo err >&2; exit 5']);
    expect(failing).toEqual({ exitCode: 5, stdout: 'out\n', stderr: 'err\n' });
    expect((await node.exec(['/nonexistent/program'])).exitCode).toBe(127);
  });

  it("short commands in a row share the node's command shell and each reads as if run alone", async () => {
    const node = await connect();
    const results = [];
    for (const script of ['printf no-newline', 'printf "a\\n\\n"; printf e >&2', 'kill -KILL $$', 'echo $PPID'])
      results.push(await node.exec(['sh', '-c', script]));
    expect(results.slice(0, 3)).toEqual([
      { exitCode: 0, stdout: 'no-newline', stderr: '' },
      { exitCode: 0, stdout: 'a\n\n', stderr: 'e' },
      { exitCode: 137, stdout: '', stderr: '' },
    ]);
    // The same parent `sh` for each: one SSH session, not one a command.
    expect((await node.exec(['sh', '-c', 'echo $PPID'])).stdout).toBe(results[3]!.stdout);
    // A long output comes whole, and only its own.
    const long = await node.exec(['sh', '-c', 'yes 0123456789abcdef | head -c 3000000']);
    expect([long.exitCode, long.stdout.length, long.stdout.slice(-5), long.stderr]).toEqual([
      0,
      3_000_000,
      '56789',
      '',
    ]);
    // One that does not answer in time is given up; the next command still runs.
    await expect(node.exec(['sleep', '3'], { signal: AbortSignal.timeout(200) })).rejects.toThrow();
    expect(await node.exec(['echo', 'next'])).toEqual({ exitCode: 0, stdout: 'next\n', stderr: '' });
  });

  it('passes env on stdin, never on a command line the node can see', async () => {
    const node = await connect();
    const secret = `s3cret-${randomBytes(8).toString('hex')}`;
    // The program waits for this file to go, so it is certainly running while the command lines
    // are read (a fixed sleep was too short on a loaded machine).
    const mark = join('/tmp', `sendense-ssh-env-${randomBytes(6).toString('hex')}`);
    await writeFile(mark, '');
    try {
      const running = node.exec(
        ['sh', '-c', `while [ -e ${mark} ]; do sleep 0.05; done; printf %s "$SENDENSE_SECRET"`],
        { env: { SENDENSE_SECRET: secret } },
      );
      let cmdlines: string[] = [];
      for (
        const deadline = Date.now() + 20_000;
        Date.now() < deadline;
        await new Promise((resolve) => setTimeout(resolve, 50))
      ) {
        cmdlines = await allCmdlines();
        expect(cmdlines.some((line) => line.includes(secret))).toBe(false);
        if (cmdlines.some((line) => line.includes(mark))) break;
      }
      expect(
        cmdlines.some((line) => line.includes(mark)),
        'the program was seen running',
      ).toBe(true);
      await rm(mark);
      expect((await running).stdout).toBe(secret);
    } finally {
      await rm(mark, { force: true });
    }
    expect(sshd.log()).not.toContain(secret);
  });

  it('spawn streams stdout lines, and closing stdin (stop) ends the program', async () => {
    const node = await connect();
    const child = node.spawn(['sh', '-c', 'echo started; echo warn >&2; cat >/dev/null; echo stdin-closed; exit 3']);
    const lines: string[] = [];
    child.onStdoutLine((line) => lines.push(line));
    await waitFor(() => lines.includes('started'));
    expect(child.pid).toBeTypeOf('number');
    await child.stop(5000);
    expect(await child.exited).toEqual({ exitCode: 3, signal: null });
    expect(lines).toEqual(['started', 'stdin-closed']);
    expect(child.stderrText()).toBe('warn\n');
  });

  it('stop() kills a program that ignores its stdin, by its PID on the node', async () => {
    const node = await connect();
    const child = node.spawn(['sh', '-c', 'trap "" TERM; echo ready; exec sleep 600 </dev/null']);
    const lines: string[] = [];
    child.onStdoutLine((line) => lines.push(line));
    await waitFor(
      () => lines.includes('ready') && child.pid !== undefined,
      () => `stdout ${JSON.stringify(lines)}, stderr ${JSON.stringify(child.stderrText())}, pid ${child.pid}`,
    );
    const remotePid = child.pid!;
    // The node is this host: killed after the test should the stop have failed.
    pids.add(remotePid);
    await child.stop(300);
    await waitFor(() => !pidExists(remotePid));
  });
});

describe('ssh node: host keys', () => {
  it('accepts a hashed known_hosts entry among others', async () => {
    const name = `[127.0.0.1]:${sshd.port}`;
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update(name).digest('base64');
    const file = join(work, 'known_hosts_hashed');
    await writeFile(
      file,
      [
        '# comment',
        `@cert-authority * ${sshd.hostPublicKey}`,
        `otherhost,[10.0.0.9]:2222 ${sshd.hostPublicKey}`,
        `|1|${salt.toString('base64')}|${hash} ${sshd.hostPublicKey}`,
      ].join('\n'),
    );
    const node = await connect({ knownHosts: file });
    expect((await node.exec(['true'])).exitCode).toBe(0);
  });

  it('refuses an unknown host with the fingerprint and the ssh-keyscan command, leaving no session', async () => {
    const file = join(work, 'known_hosts_other');
    await writeFile(file, `otherhost ${sshd.hostPublicKey}\n`);
    const error = await connect({ knownHosts: file }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SendenseError);
    const blob = Buffer.from(sshd.hostPublicKey.split(' ')[1], 'base64');
    const print = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
    expect((error as Error).message).toBe(
      `host key of [127.0.0.1]:${sshd.port} is not in ${file} (ED25519 fingerprint ${print}). ` +
        `To trust it, verify the fingerprint and run: ssh-keyscan -p ${sshd.port} 127.0.0.1 >> ${file}`,
    );
    // The fingerprint is the one ssh-keygen prints for the host key.
    const keygen = await execa('ssh-keygen', ['-l', '-f', join(sshd.dir, 'host_ed25519.pub')]);
    expect(keygen.stdout).toContain(print);
    await waitFor(async () => (await sessionsOfSshd()).length === 0);
  });

  it('refuses a changed host key, naming the known_hosts line', async () => {
    const other = join(work, 'other_key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const wrongKey = (await readFile(`${other}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
    const file = join(work, 'known_hosts_wrong');
    await writeFile(file, `# first\n[127.0.0.1]:${sshd.port} ${wrongKey}\n`);
    const error = await connect({ knownHosts: file }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SendenseError);
    expect((error as Error).message).toMatch(
      new RegExp(`HOST KEY OF \\[127\\.0\\.0\\.1\\]:${sshd.port} HAS CHANGED.*${file} line 2`),
    );
    await waitFor(async () => (await sessionsOfSshd()).length === 0);
  });

  it('refuses a revoked host key', async () => {
    const file = join(work, 'known_hosts_revoked');
    await writeFile(file, `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n@revoked * ${sshd.hostPublicKey}\n`);
    await expect(connect({ knownHosts: file })).rejects.toThrow(/revoked in .* line 2/);
  });
});

describe('ssh node: connection errors', () => {
  it('names the node when the connection is refused', async () => {
    const port = await freePort();
    await expect(connect({ port })).rejects.toThrow(`${sshd.user}@127.0.0.1:${port}: connection refused`);
  });

  it('names the node when the key is not accepted', async () => {
    const other = join(work, 'stranger_key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    await expect(connect({ identityFile: other })).rejects.toThrow(/: authentication failed/);
  });

  it('asks for an agent when the key has a passphrase', async () => {
    const locked = join(work, 'locked_key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'pw-123', '-f', locked]);
    await expect(connect({ identityFile: locked })).rejects.toThrow(
      /protected by a passphrase: load it into ssh-agent/,
    );
  });
});

describe('ssh node: tunnel', () => {
  it('lets nbdinfo on the node reach a qemu-nbd on the hub through the forward', async () => {
    const image = join(work, 'tunnel.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', image, '64M']);
    await execa('qemu-io', ['-c', 'write -P 0x5a 1M 2M', image]);
    const hubPort = await freePort();
    const qemuNbd = execa(
      'qemu-nbd',
      ['-f', 'qcow2', '-b', '127.0.0.1', '-p', String(hubPort), '-x', 'disk', '--shared=4', '-t', '-r', image],
      {
        reject: false,
      },
    );
    pids.add(qemuNbd.pid);
    await waitFor(
      async () => (await execa('nbdinfo', [`nbd://127.0.0.1:${hubPort}/disk`], { reject: false })).exitCode === 0,
    );

    const node = await connect();
    const forwards = await node.forwardPorts([hubPort]);
    const nodePort = forwards.nodePorts.get(hubPort)!;
    // Hub and node share this host, so the hub's own listener holds the exact port: the node picked another.
    expect(nodePort).not.toBe(hubPort);
    const info = await node.exec(['nbdinfo', '--map', `nbd://127.0.0.1:${nodePort}/disk`]);
    expect(info.exitCode).toBe(0);
    expect(info.stdout).toMatch(/1048576\s+2097152\s+0\s+data/);
    const sum = await node.exec(['sh', '-c', `nbdcopy nbd://127.0.0.1:${nodePort}/disk - | sha256sum`]);
    await execa('qemu-img', ['convert', '-O', 'raw', image, join(work, 'tunnel.raw')]);
    const local = await execa('sha256sum', [join(work, 'tunnel.raw')]);
    expect(sum.stdout.split(' ')[0]).toBe(local.stdout.split(' ')[0]);

    await forwards.close();
    const after = await node.exec(['nbdinfo', `nbd://127.0.0.1:${nodePort}/disk`]);
    expect(after.exitCode).not.toBe(0);
    qemuNbd.kill('SIGTERM');
    await qemuNbd;
  });
});

describe('ssh node: socket tunnel', () => {
  it('reaches a writable qemu-nbd on the hub from a socket in a private directory on the node: the SSH user writes, another user (nobody) cannot', async () => {
    const image = join(work, 'socket-tunnel.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', image, '16M']);
    const hubDir = await mkdtemp(join(tmpdir(), 'sendense-hub-sockets-'));
    onTestFinished(() => rm(hubDir, { recursive: true, force: true }));
    const server = await startQemuNbd({
      file: image,
      format: 'qcow2',
      socket: join(hubDir, 'disk.sock'),
      exportName: 'disk',
      shared: 4,
      readOnly: false,
    });
    onTestFinished(() => server.stop());

    const node = await connect();
    const forwards = await node.forwardSockets([server.socket!]);
    const nodeSocket = forwards.nodeSockets.get(server.socket!)!;
    const url = `nbd+unix:///disk?socket=${nodeSocket}`;
    expect((await stat(dirname(nodeSocket))).mode & 0o777).toBe(0o700);
    expect((await stat(nodeSocket)).mode & 0o777).toBe(0o600);
    const written = await node.exec(['qemu-io', '-f', 'raw', '-c', 'write -P 0x33 0 1M', url]);
    expect(written.exitCode, written.stderr).toBe(0);
    const intruder = await execa('setpriv', asNobody(['qemu-io', '-f', 'raw', '-c', 'write -P 0x66 4M 1M', url]), {
      reject: false,
    });
    expect(intruder.exitCode).not.toBe(0);
    expect(`${intruder.stdout}${intruder.stderr}`).toMatch(/permission denied/i);
    const peek = await execa('setpriv', asNobody(['nbdinfo', '--size', url]), { reject: false });
    expect(peek.exitCode).not.toBe(0);

    await forwards.close();
    expect(existsSync(dirname(nodeSocket))).toBe(false);
    await server.stop();
    // The hub's image holds the SSH user's write, and nothing of nobody's.
    expect(
      (await execa('qemu-io', ['-f', 'qcow2', '-c', 'read -P 0x33 0 1M', '-c', 'read -P 0 4M 1M', image])).stdout,
    ).not.toMatch(/verification failed/i);
  });
});

describe('ssh node: the node transfer', () => {
  it('uploads the bundle once into a content-hash directory and runs it with node', async () => {
    const bundle = join(work, `bundle-${randomBytes(4).toString('hex')}.mjs`);
    const marker = randomBytes(8).toString('hex');
    await writeFile(
      bundle,
      `console.log(JSON.stringify({ marker: ${JSON.stringify(marker)}, argv: process.argv.slice(2) }));\n`,
    );
    const hash = createHash('sha256')
      .update(await readFile(bundle))
      .digest('hex')
      .slice(0, 16);
    const node = await connect({}, { transferBundle: bundle });
    const argv = await node.transferCommand();
    expect(argv[0]).toBe('node');
    expect(argv[1]).toMatch(new RegExp(`/\\.cache/sendense-run/transfer-${hash}/sendense-transfer\\.mjs$`));
    try {
      const run = await node.exec([...argv, '--job-id', 'x']);
      expect(JSON.parse(run.stdout)).toEqual({ marker, argv: ['--job-id', 'x'] });
      expect(await readFile(argv[1], 'utf8')).toBe(await readFile(bundle, 'utf8'));
      // A second connection finds it in place (same path, no temp files left).
      const again = await connect({}, { transferBundle: bundle });
      expect(await again.transferCommand()).toEqual(argv);
      const listing = await node.exec(['ls', '-a', argv[1].replace(/\/[^/]+$/, '')]);
      expect(listing.stdout.split('\n').filter((name) => name && !name.startsWith('.'))).toEqual([
        'sendense-transfer.mjs',
      ]);
    } finally {
      await rm(argv[1].replace(/\/[^/]+$/, ''), { recursive: true, force: true });
    }
  });
});

describe('ssh node: link loss', () => {
  it('resolves a running program with exitCode null within seconds when the sshd sessions die', async () => {
    const node = await connect({}, { keepaliveIntervalMs: 1000, keepaliveCountMax: 2 });
    const marker = join(work, `stdin-closed-${randomBytes(4).toString('hex')}`);
    // Like the node transfer: it stops when its stdin (the channel) goes away.
    const child = node.spawn(['sh', '-c', `echo ready; cat >/dev/null; touch ${marker}`]);
    const lines: string[] = [];
    child.onStdoutLine((line) => lines.push(line));
    await waitFor(() => lines.includes('ready'));
    // Runs until the test ends it: only the lost link can end the exec.
    const hold = join(work, `hold-${randomBytes(4).toString('hex')}`);
    await writeFile(hold, '');
    onTestFinished(() => rm(hold, { force: true }));
    const running = node.exec(['sh', '-c', `while [ -e ${hold} ]; do sleep 0.05; done`]);
    const killed = await sshd.killSessions();
    expect(killed.length).toBeGreaterThan(0);
    const status = await child.exited;
    expect(status).toEqual({ exitCode: null, signal: null });
    await expect(running).rejects.toThrow(new RegExp(`${sshd.user}@127\\.0\\.0\\.1:${sshd.port}: connection lost`));
    expect(child.stderrText()).toMatch(/connection lost/);
    await waitFor(async () => (await readFile(marker).catch(() => undefined)) !== undefined);
    // The next command reconnects (the sshd still listens), so a failed run can still clean up there.
    expect((await node.exec(['true'])).exitCode).toBe(0);
  });
});

async function allCmdlines(): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  const lines: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      lines.push((await readFile(`/proc/${entry}/cmdline`, 'utf8')).replace(/\0/g, ' '));
    } catch {
      // exited
    }
  }
  return lines;
}

async function waitFor(condition: () => boolean | Promise<boolean>, seen: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + DEADLINE_UNDER_LOAD_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met in time ${seen()}`.trim());
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
