// Puts the node transfer bundle on a node over SFTP when it is missing or a different version
// (a directory named after its content hash, written to a temp name then renamed), after
// checking the node has what it needs to run it: Node.js >= 20 and qemu-utils.

import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { SFTPWrapper } from 'ssh2';
import { SendenseError } from '../errors.js';
import { execOverSsh } from './ssh-process.js';
import type { SshLink } from './ssh-link.js';

// The oldest Node.js line the node transfer runs on; CI also runs it on 22 and 24 (scripts/test-node.sh).
const MIN_NODE_MAJOR = 20;
const SUPPORTED = `>= ${MIN_NODE_MAJOR} (22 or 24 recommended)`;

export async function installTransfer(link: SshLink, bundlePath: string): Promise<readonly string[]> {
  const bundle = await readFile(bundlePath);
  const hash = createHash('sha256').update(bundle).digest('hex').slice(0, 16);
  await checkNodePrerequisites(link);
  const sftp = await link.openSftp();
  try {
    const home = await sftpCall<string>((done) => sftp.realpath('.', done));
    const dir = `${home}/.cache/sendense-run/transfer-${hash}`;
    const remotePath = `${dir}/sendense-transfer.mjs`;
    const existing = await sftpCall<{ size: number }>((done) => sftp.stat(remotePath, done)).catch(() => undefined);
    if (existing?.size !== bundle.length) await upload(link, sftp, dir, remotePath, bundle);
    return Object.freeze(['node', remotePath]);
  } finally {
    sftp.end();
  }
}

async function upload(link: SshLink, sftp: SFTPWrapper, dir: string, remotePath: string, bundle: Buffer): Promise<void> {
  const mkdir = await execOverSsh(link, ['mkdir', '-p', dir]);
  if (mkdir.exitCode !== 0) {
    throw new SendenseError(`${link.description}: cannot create ${dir}: ${mkdir.stderr.trim()}`);
  }
  const temp = `${remotePath}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await sftpCall<void>((done) => sftp.writeFile(temp, bundle, { mode: 0o644 }, done));
    // posix-rename replaces atomically; plain SFTP rename refuses an existing target.
    await sftpCall<void>((done) => sftp.ext_openssh_rename(temp, remotePath, done)).catch(() =>
      sftpCall<void>((done) => sftp.rename(temp, remotePath, done)),
    );
  } catch (error) {
    await sftpCall<void>((done) => sftp.unlink(temp, done)).catch(() => undefined);
    throw link.lost ?? new SendenseError(`${link.description}: cannot upload the node transfer to ${remotePath}: ${(error as Error).message}`);
  }
}

// Node.js >= 20 and qemu-img/qemu-nbd, each missing piece named with what to install.
async function checkNodePrerequisites(link: SshLink): Promise<void> {
  const [node, qemuImg, qemuNbd] = await Promise.all([
    execOverSsh(link, ['node', '--version']),
    execOverSsh(link, ['qemu-img', '--version']),
    execOverSsh(link, ['qemu-nbd', '--version']),
  ]);
  if (node.exitCode !== 0) {
    throw new SendenseError(`node is not installed on ${link.description} (or not on its PATH): install Node.js ${SUPPORTED}`);
  }
  const version = node.stdout.trim().replace(/^v/, '');
  if (Number(version.split('.')[0]) < MIN_NODE_MAJOR || !/^\d+\./.test(version)) {
    throw new SendenseError(`Node.js ${version} on ${link.description} is too old: the node transfer needs Node.js ${SUPPORTED}`);
  }
  const missing = [qemuImg.exitCode !== 0 && 'qemu-img', qemuNbd.exitCode !== 0 && 'qemu-nbd'].filter(Boolean);
  if (missing.length > 0) {
    throw new SendenseError(`${missing.join(' and ')} not found on ${link.description}: install qemu-utils`);
  }
}

function sftpCall<T>(call: (done: (error: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => call((error, value) => (error ? reject(error) : resolve(value))));
}
