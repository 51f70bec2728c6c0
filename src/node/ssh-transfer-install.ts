// Puts the node transfer bundle on a node when it is missing or a different version (a directory
// named after its content hash, written to a temp name then renamed), after checking the node has
// what it needs to run it: Node.js >= 20 and qemu-utils. Over SFTP where the node's sshd offers
// it; hardened sshd configs turn the SFTP subsystem off, and then the same steps go through
// plain exec channels (the bundle on stdin of `cat`).

import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { SFTPWrapper } from 'ssh2';
import { SendenseError } from '../errors.js';
import { execOverSsh } from './ssh-process.js';
import type { SshLink } from './ssh-link.js';
import { qemuImgVersionArgv } from '../qemu/command-lines.js';

// The oldest Node.js line the node transfer runs on; CI also runs it on 22 and 24 (scripts/test-node.sh).
const MIN_NODE_MAJOR = 20;
const SUPPORTED = `>= ${MIN_NODE_MAJOR} (22 or 24 recommended)`;

export async function installTransfer(link: SshLink, bundlePath: string): Promise<readonly string[]> {
  const bundle = await readFile(bundlePath);
  const hash = createHash('sha256').update(bundle).digest('hex').slice(0, 16);
  await checkNodePrerequisites(link);
  const files = await openRemoteFiles(link);
  try {
    const dir = `${await files.home()}/.cache/sendense-run/transfer-${hash}`;
    const remotePath = `${dir}/sendense-transfer.mjs`;
    if ((await files.size(remotePath)) !== bundle.length) {
      const mkdir = await execOverSsh(link, ['mkdir', '-p', dir]);
      if (mkdir.exitCode !== 0)
        throw new SendenseError(`${link.description}: cannot create ${dir}: ${mkdir.stderr.trim()}`);
      const temp = `${remotePath}.tmp-${randomBytes(6).toString('hex')}`;
      await files.upload(temp, remotePath, bundle).catch((error: unknown) => {
        throw (
          link.lost ??
          new SendenseError(
            `${link.description}: cannot upload the node transfer to ${remotePath}: ${(error as Error).message}`,
          )
        );
      });
    }
    return Object.freeze(['node', remotePath]);
  } finally {
    files.close();
  }
}

/** What installing needs of the node's files: over SFTP, or over exec channels without it. */
interface RemoteFiles {
  home(): Promise<string>;
  /** Size in bytes, undefined when there is no such file. */
  size(path: string): Promise<number | undefined>;
  /** Writes `bundle` to `temp` (0644), then renames it over `target`; removes `temp` on failure. */
  upload(temp: string, target: string, bundle: Buffer): Promise<void>;
  close(): void;
}

async function openRemoteFiles(link: SshLink): Promise<RemoteFiles> {
  let sftp: SFTPWrapper;
  try {
    sftp = await link.openSftp();
  } catch {
    if (link.lost) throw link.lost;
    // "Unable to start subsystem" and the like: the connection is fine, SFTP is off.
    return execFiles(link);
  }
  return {
    home: () => sftpCall<string>((done) => sftp.realpath('.', done)),
    size: async (path) =>
      (await sftpCall<{ size: number }>((done) => sftp.stat(path, done)).catch(() => undefined))?.size,
    upload: async (temp, target, bundle) => {
      try {
        await sftpCall<void>((done) => sftp.writeFile(temp, bundle, { mode: 0o644 }, done));
        // posix-rename replaces atomically; plain SFTP rename refuses an existing target.
        await sftpCall<void>((done) => sftp.ext_openssh_rename(temp, target, done)).catch(() =>
          sftpCall<void>((done) => sftp.rename(temp, target, done)),
        );
      } catch (error) {
        await sftpCall<void>((done) => sftp.unlink(temp, done)).catch(() => undefined);
        throw error;
      }
    },
    close: () => sftp.end(),
  };
}

function execFiles(link: SshLink): RemoteFiles {
  const sh = async (script: string, args: readonly string[], stdin?: Uint8Array): Promise<string> => {
    const result = await execOverSsh(link, ['sh', '-c', script, 'sh', ...args], { stdin });
    if (result.exitCode !== 0) throw new Error(result.stderr.trim() || `exit status ${result.exitCode}`);
    return result.stdout;
  };
  return {
    home: () => sh('cd && pwd', []).then((out) => out.trim()),
    size: (path) =>
      sh('if [ -f "$1" ]; then wc -c < "$1"; fi', [path]).then((out) =>
        out.trim() === '' ? undefined : Number(out.trim()),
      ),
    upload: async (temp, target, bundle) => {
      await sh(
        'umask 022 && cat > "$1" && mv -f "$1" "$2" || { status=$?; rm -f "$1"; exit "$status"; }',
        [temp, target],
        bundle,
      );
    },
    close: () => undefined,
  };
}

// Node.js >= 20 and qemu-img/qemu-nbd, each missing piece named with what to install.
async function checkNodePrerequisites(link: SshLink): Promise<void> {
  const [node, qemuImg, qemuNbd] = await Promise.all([
    execOverSsh(link, ['node', '--version']),
    execOverSsh(link, qemuImgVersionArgv()),
    execOverSsh(link, ['qemu-nbd', '--version']),
  ]);
  if (node.exitCode !== 0) {
    throw new SendenseError(
      `node is not installed on ${link.description} (or not on its PATH): install Node.js ${SUPPORTED}`,
    );
  }
  const version = node.stdout.trim().replace(/^v/, '');
  if (Number(version.split('.')[0]) < MIN_NODE_MAJOR || !/^\d+\./.test(version)) {
    throw new SendenseError(
      `Node.js ${version} on ${link.description} is too old: the node transfer needs Node.js ${SUPPORTED}`,
    );
  }
  const missing = [qemuImg.exitCode !== 0 && 'qemu-img', qemuNbd.exitCode !== 0 && 'qemu-nbd'].filter(Boolean);
  if (missing.length > 0) {
    throw new SendenseError(`${missing.join(' and ')} not found on ${link.description}: install qemu-utils`);
  }
}

function sftpCall<T>(call: (done: (error: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => call((error, value) => (error ? reject(error) : resolve(value))));
}
