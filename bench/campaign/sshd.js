// A real OpenSSH sshd on 127.0.0.1 for the campaign's `copy` mode (the copy's host), as
// bench/support/sshd.js makes one, holding its PID: the `link-cut` fault kills its per-connection
// processes (an SSH session of the copy dropped), found by parent PID under it, never by name.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort, waitForPort } from '../support/free-port.js';
import { commandOf, descendants, stillRunning } from './run-cli.js';

export async function startSshd(parent) {
  const dir = mkdtempSync(join(parent, 'sendense-campaign-sshd-'));
  mkdirSync('/run/sshd', { recursive: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_ed25519')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'id_ed25519.pub')), { mode: 0o600 });
  const port = await freePort();
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'PasswordAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      `PidFile ${join(dir, 'sshd.pid')}`,
      'MaxSessions 32',
      'MaxStartups 100',
      // SHLVL=1: no ~/.bashrc for commands (as test/support/sshd.ts says).
      `SetEnv PATH=${[dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':')} SHLVL=1`,
      '',
    ].join('\n'),
  );
  const hostKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKey}\n`);
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
  await waitForPort(port);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    port,
    pid: child.pid,
    user: userInfo().username,
    identityFile: join(dir, 'id_ed25519'),
    knownHosts,
    // Every process under sshd now: sessions and the commands they run.
    sessions: () => descendants(child.pid).map((entry) => ({ ...entry, command: commandOf(entry.pid) })),
    // The fault: SIGKILL of each per-connection sshd (not the commands they run). Returns how many.
    cut: () => {
      let count = 0;
      for (const entry of descendants(child.pid)) {
        if (readComm(entry.pid) !== 'sshd') continue;
        try {
          process.kill(entry.pid, 'SIGKILL');
          count += 1;
        } catch {
          // gone already
        }
      }
      return count;
    },
    stop: async () => {
      const left = descendants(child.pid);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      for (const entry of left.filter(stillRunning)) {
        try {
          process.kill(entry.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
    killNow: () => {
      try {
        child.kill('SIGKILL');
      } catch {
        // gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readComm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}
