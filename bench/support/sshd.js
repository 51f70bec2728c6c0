// A throw-away OpenSSH sshd for the benches: its own host and user keys, authorized_keys and
// config, 127.0.0.1 only, aes128-gcm; `node` on the sessions' PATH is the bench's own Node.js.
// Stopped by the bench (stop) or when it exits.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort, waitForPort } from './free-port.js';
import { stopChild, trackChild } from './scratch.js';

export async function startSshd(dir) {
  mkdirSync('/run/sshd', { recursive: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_ed25519')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'id_ed25519.pub')), { mode: 0o600 });
  const port = await freePort();
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `ListenAddress 127.0.0.1`,
      `Port ${port}`,
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'PasswordAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      `PidFile ${join(dir, 'sshd.pid')}`,
      'AllowTcpForwarding yes',
      'Ciphers aes128-gcm@openssh.com',
      'Subsystem sftp internal-sftp',
      'MaxSessions 32',
      // SHLVL=1: no ~/.bashrc for commands (bash sources it when sshd runs it), as in test/support/sshd.ts.
      `SetEnv PATH=${[dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':')} SHLVL=1`,
      '',
    ].join('\n'),
  );
  const hostKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKey}\n`);
  const child = trackChild(spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' }));
  await waitForPort(port);
  return {
    port,
    user: userInfo().username,
    identityFile: join(dir, 'id_ed25519'),
    knownHosts,
    stop: () => stopChild(child),
  };
}

// OpenSSH `ssh -N -R nodePort:127.0.0.1:hubPort` through that sshd (aes128-gcm, host key checked),
// resolved once the node side listens.
export async function openSshRemoteForward(sshd, hubPort) {
  const nodePort = await freePort();
  const child = trackChild(
    spawn(
      'ssh',
      [
        '-N',
        '-o',
        'ExitOnForwardFailure=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        `UserKnownHostsFile=${sshd.knownHosts}`,
        '-o',
        'StrictHostKeyChecking=yes',
        '-c',
        'aes128-gcm@openssh.com',
        '-i',
        sshd.identityFile,
        '-p',
        String(sshd.port),
        '-R',
        `127.0.0.1:${nodePort}:127.0.0.1:${hubPort}`,
        `${sshd.user}@127.0.0.1`,
      ],
      { stdio: 'ignore' },
    ),
  );
  await waitForPort(nodePort);
  return { nodePort, stop: () => stopChild(child) };
}
