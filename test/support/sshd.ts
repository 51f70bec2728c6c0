// A real OpenSSH sshd for tests: its own host key, user key, authorized_keys and config in a
// temp dir, listening on 127.0.0.1 (or an address inside a network namespace), stopped by PID.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { freePort } from './free-port.js';
import { DEADLINE_UNDER_LOAD_MS, identify, killIfAlive } from './processes.js';

export interface TestSshd {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Temp dir holding keys, config and logs. */
  readonly dir: string;
  /** Private key that authorized_keys accepts (no passphrase). */
  readonly identityFile: string;
  /** known_hosts with a plain `[host]:port` entry for this sshd. */
  readonly knownHosts: string;
  /** "ssh-ed25519 AAAA..." of the host key. */
  readonly hostPublicKey: string;
  readonly pid: number;
  /** Everything sshd logged (-e) so far. */
  log(): string;
  /** Kill the per-connection sshd processes (not the commands they run): a dropped link. */
  killSessions(): Promise<number[]>;
  /** Stop the listener and its sessions, remove the temp dir. */
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Run inside this network namespace (`ip netns exec`). */
  readonly netns?: string;
  /** Listen address; default 127.0.0.1. */
  readonly address?: string;
  readonly port?: number;
  /** Directories searched first for commands in the node's sessions (a stand-in `node`, say). */
  readonly pathFirst?: readonly string[];
  /** false: no SFTP subsystem, as hardened sshd configs have it. Default true. */
  readonly sftp?: boolean;
  /** More variables every session on the node starts with (sshd's SetEnv), as a node's own login would set them. */
  readonly setEnv?: Readonly<Record<string, string>>;
}

export async function startSshd(options: SshdOptions = {}): Promise<TestSshd> {
  const host = options.address ?? '127.0.0.1';
  const dir = await mkdtemp(join(tmpdir(), 'sendense-sshd-'));
  // sshd as root insists on its privilege-separation directory.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_ed25519')]);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_ed25519')]);
  await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'id_ed25519.pub')), { mode: 0o600 });
  const port = options.port ?? (await freePort());
  const config = [
    `ListenAddress ${host}`,
    `Port ${port}`,
    `HostKey ${join(dir, 'host_ed25519')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'StrictModes no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    `PidFile ${join(dir, 'sshd.pid')}`,
    'AllowTcpForwarding yes',
    ...(options.sftp === false ? [] : ['Subsystem sftp internal-sftp']),
    'MaxSessions 32',
    'LogLevel VERBOSE',
    // The node's `node` is the Node.js running the tests (scripts/test-node.sh runs 22 and 24 too).
    // SHLVL=1: bash run by sshd for a command otherwise sources the user's ~/.bashrc (Debian builds
    // it so), whatever the tester keeps there: with pyenv's init, 0.18 CPU-s a command here.
    `SetEnv PATH=${[...(options.pathFirst ?? []), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':')} SHLVL=1${Object.entries(
      options.setEnv ?? {},
    )
      .map(([name, value]) => ` ${name}=${value}`)
      .join('')}`,
  ].join('\n');
  await writeFile(join(dir, 'sshd_config'), `${config}\n`);
  const hostPublicKey = (await readFile(join(dir, 'host_ed25519.pub'), 'utf8'))
    .trim()
    .split(/\s+/)
    .slice(0, 2)
    .join(' ');
  const knownHosts = join(dir, 'known_hosts');
  await writeFile(knownHosts, `[${host}]:${port} ${hostPublicKey}\n`);

  const sshdArgv = ['/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')];
  const argv = options.netns ? ['ip', 'netns', 'exec', options.netns, ...sshdArgv] : sshdArgv;
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('sshd did not start');
  try {
    await waitForPort(host, port, child, () => log, options.netns);
  } catch (error) {
    await stopProcess(child, pid);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    host,
    port,
    user: userInfo().username,
    dir,
    identityFile: join(dir, 'id_ed25519'),
    knownHosts,
    hostPublicKey,
    pid,
    log: () => log,
    killSessions: async () => {
      const sessions = await sshdProcesses(await descendants(pid));
      for (const session of sessions) killQuietly(session, 'SIGKILL');
      return sessions;
    },
    stop: async () => {
      // Noted by identity: they are killed after sshd is gone, when their PIDs may be reused.
      const sessions = (await descendants(pid)).map(identify);
      await stopProcess(child, pid);
      for (const session of sessions) killIfAlive(session);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function stopProcess(child: ChildProcess, pid: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killQuietly(pid, 'SIGTERM');
  const timer = setTimeout(() => killQuietly(pid, 'SIGKILL'), 2000);
  await gone;
  clearTimeout(timer);
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

// Every process below `root` (by /proc/<pid>/stat parent links): only what our sshd started.
export async function descendants(root: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [pid, ppid] of parents) {
      if (ppid === parent) {
        found.push(pid);
        queue.push(pid);
      }
    }
  }
  return found;
}

async function sshdProcesses(pids: readonly number[]): Promise<number[]> {
  const names = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')));
  return pids.filter((_, index) => names[index].trim() === 'sshd');
}

async function waitForPort(
  host: string,
  port: number,
  child: ChildProcess,
  log: () => string,
  netns: string | undefined,
): Promise<void> {
  const deadline = Date.now() + DEADLINE_UNDER_LOAD_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${log()}`);
    // An address inside a namespace is reachable from here only through its veth; log says when ready.
    if (netns ? log().includes('Server listening') : await accepts(host, port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sshd did not listen on ${host}:${port}: ${log()}`);
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
