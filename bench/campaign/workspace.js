// One campaign workspace: a state database, a source qcow2 the harness writes with qemu-io, and
// a repository on a small loop-mounted ext4 (real ENOSPC), all under one scratch directory that
// goes away with everything in it.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const VM = 'cvm';
export const DISK_KEY = 2000;
export const SOURCE_BYTES = 64 * 1024 * 1024;
const FILESYSTEM_MIB = 256;

// Ports for this campaign's runs (--ports): by default a slot of 10 from the process id, below
// the kernel's ephemeral ports, as the benches pick theirs (bench/support/local-plan.js).
const PORT_BASE = 30000 + (process.pid % 200) * 10;
let ports = `${PORT_BASE}-${PORT_BASE + 9}`;
export function usePorts(range) {
  ports = range;
}

// Every workspace not yet removed (a shrink trial's too): removed on Ctrl+C.
const live = new Set();

export function removeAllWorkspaces() {
  for (const ws of live) removeWorkspace(ws);
}

export function createWorkspace(parent = process.env.CAMPAIGN_TMPDIR ?? '/var/tmp') {
  const root = mkdtempSync(join(parent, 'sendense-campaign-'));
  const ws = {
    root,
    db: join(root, 'state.db'),
    tmp: join(root, 'tmp'),
    restores: join(root, 'restores'),
    source: join(root, 'source.qcow2'),
    mount: join(root, 'fs'),
    repository: join(root, 'fs', 'repository'),
    filler: join(root, 'fs', 'filler'),
    smallFilesystem: false,
    plan: join(root, 'backup.yaml'),
  };
  for (const dir of [ws.tmp, ws.restores, ws.mount]) mkdirSync(dir);
  const image = join(root, 'fs.img');
  execFileSync('truncate', ['-s', `${FILESYSTEM_MIB}M`, image]);
  execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
  // Loop mounts need root; without it the repository is a plain directory and ENOSPC is skipped.
  ws.smallFilesystem = spawnSync('mount', ['-o', 'loop', image, ws.mount], { stdio: 'ignore' }).status === 0;
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', ws.source, String(SOURCE_BYTES)]);
  writeBackupPlan(ws);
  live.add(ws);
  return ws;
}

export function removeWorkspace(ws) {
  live.delete(ws);
  if (ws.smallFilesystem) {
    // A process still holding a file there keeps it busy: lazy unmount detaches it anyway.
    if (spawnSync('umount', [ws.mount], { stdio: 'ignore' }).status !== 0) spawnSync('umount', ['-l', ws.mount], { stdio: 'ignore' });
  }
  rmSync(ws.root, { recursive: true, force: true });
}

// The one backup plan: incrementals, a new full every 4 points, the newest 4 kept.
function writeBackupPlan(ws) {
  writeFileSync(
    ws.plan,
    [
      'version: 1',
      'kind: incremental',
      'name: campaign',
      'vm:',
      `  name: ${VM}`,
      '  source:',
      '    type: qemu',
      '    disks:',
      `      - { key: ${DISK_KEY}, path: ${ws.source} }`,
      `repository: { path: ${ws.repository} }`,
      `nbd: { ports: ${ports} }`,
      'incremental: { maxChainLength: 4 }',
      'retention: { keepLast: 4 }',
      '',
    ].join('\n'),
  );
}

// A restore plan of one point into a raw file; returns the plan's path.
export function writeRestorePlan(ws, point, target) {
  const file = join(ws.root, 'restore.yaml');
  writeFileSync(
    file,
    [
      'version: 1',
      'kind: restore',
      'name: campaign-restore',
      `vm: { name: ${VM} }`,
      `repository: { path: ${ws.repository} }`,
      `nbd: { ports: ${ports} }`,
      'restore:',
      `  point: ${point}`,
      `  disks: [${DISK_KEY}]`,
      `  target: { type: file, path: ${target}, format: raw }`,
      '  verify: true',
      '',
    ].join('\n'),
  );
  return file;
}

// Random guest writes between operations (data, zeroes, discards), all decided by rng.
export function writeSource(ws, rng) {
  const commands = [];
  const count = rng.int(1, 6);
  for (let i = 0; i < count; i++) {
    const offset = rng.int(0, (SOURCE_BYTES - 4 * 1024 * 1024) / 65536) * 65536;
    const length = rng.int(1, 32) * 65536;
    const kind = rng.weighted({ data: 6, zero: 1, discard: 1 });
    if (kind === 'data') commands.push(`write -P 0x${rng.int(1, 255).toString(16)} ${offset} ${length}`);
    else if (kind === 'zero') commands.push(`write -z ${offset} ${length}`);
    else commands.push(`discard ${offset} ${length}`);
  }
  const args = ['-f', 'qcow2'];
  for (const command of commands) args.push('-c', command);
  execFileSync('qemu-io', [...args, ws.source], { stdio: 'ignore' });
  return commands;
}

// sha256 of a file's bytes, streamed.
export function sha256File(file) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

// sha256 of the source's guest bytes now (what a backup taken now must restore to).
export async function sourceDigest(ws) {
  const raw = join(ws.restores, 'source.raw');
  execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', ws.source, raw]);
  try {
    return await sha256File(raw);
  } finally {
    rmSync(raw, { force: true });
  }
}
