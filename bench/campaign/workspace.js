// One campaign workspace: a state database, a source qcow2 the harness writes with qemu-io, and
// a repository on a small loop-mounted ext4 (real ENOSPC), all under one scratch directory that
// goes away with everything in it. Its mode (a set of: encrypted, postgres, copy) adds a key pool
// and an encrypted repository, a PostgreSQL database for the state, a copy plan to an sshd.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
export function portRange() {
  return ports;
}

// Every workspace not yet removed (a shrink trial's too): removed on Ctrl+C.
const live = new Set();

export function removeAllWorkspaces() {
  for (const ws of live) removeWorkspace(ws);
}

export function tmpParent() {
  return process.env.CAMPAIGN_TMPDIR ?? '/var/tmp';
}

// The keys of the pool an encrypted workspace draws from (key-add, key-remove).
export const KEY_POOL = 4;

/**
 * mode: a Set of 'encrypted', 'postgres', 'copy'; services: { pg (PostgresServer), sshd } as the
 * mode needs them; dbUrl: the workspace's PostgreSQL database (postgres mode).
 */
export function createWorkspace(mode = new Set(), services = {}, dbUrl = undefined) {
  const root = mkdtempSync(join(tmpParent(), 'sendense-campaign-'));
  const ws = {
    root,
    mode,
    services,
    encrypted: mode.has('encrypted'),
    db: dbUrl ?? join(root, 'state.db'),
    sqlite: dbUrl === undefined,
    tmp: join(root, 'tmp'),
    restores: join(root, 'restores'),
    source: join(root, 'source.qcow2'),
    mount: join(root, 'fs'),
    repository: join(root, 'fs', 'repository'),
    filler: join(root, 'fs', 'filler'),
    smallFilesystem: false,
    plan: join(root, 'backup.yaml'),
    keyFiles: [],
    planKey: join(root, 'keys', 'plan.key'),
    keyArgs: [],
    copy: join(root, 'copy'),
    copyPlan: join(root, 'copy.yaml'),
    copyDb: join(root, 'copy.db'),
  };
  for (const dir of [ws.tmp, ws.restores, ws.mount]) mkdirSync(dir);
  if (ws.encrypted) {
    mkdirSync(join(root, 'keys'), { mode: 0o700 });
    for (let i = 0; i < KEY_POOL; i++) {
      ws.keyFiles.push(join(root, 'keys', `k${i}.key`));
      writeFileSync(ws.keyFiles[i], `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    }
    useKey(ws, 0);
    ws.keyArgs = ['--key-file', ws.planKey];
  }
  const image = join(root, 'fs.img');
  execFileSync('truncate', ['-s', `${FILESYSTEM_MIB}M`, image]);
  execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
  // Loop mounts need root; without it the repository is a plain directory and ENOSPC is skipped.
  ws.smallFilesystem = spawnSync('mount', ['-o', 'loop', image, ws.mount], { stdio: 'ignore' }).status === 0;
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', ws.source, String(SOURCE_BYTES)]);
  writeBackupPlan(ws);
  if (mode.has('copy')) writeCopyPlan(ws);
  live.add(ws);
  return ws;
}

// The plans' key file (plan.key) now holds key `index` of the pool.
export function useKey(ws, index) {
  writeFileSync(ws.planKey, readFileSync(ws.keyFiles[index]), { mode: 0o600 });
  ws.planKeyIndex = index;
}

export function repositoryLine(ws, path = ws.repository, keyFile = ws.planKey) {
  return ws.encrypted
    ? `repository: { path: ${path}, encryption: { keyFile: ${keyFile} } }`
    : `repository: { path: ${path} }`;
}

// The copy plan: the VM's points to ws.copy over SSH to the campaign's sshd; the copy keeps its
// newest 3 (merged there) unless the repository is encrypted (docs/copies.md: refused then).
function writeCopyPlan(ws) {
  const { sshd } = ws.services;
  writeFileSync(
    ws.copyPlan,
    [
      'version: 1',
      'kind: copy',
      'name: campaign-copy',
      `vm: { name: ${VM} }`,
      repositoryLine(ws),
      'copy:',
      '  to:',
      '    type: ssh',
      `    node: { host: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user}, identityFile: ${sshd.identityFile}, knownHosts: ${sshd.knownHosts} }`,
      `    path: ${ws.copy}`,
      ...(ws.encrypted ? [] : ['  retention: { keepLast: 3 }']),
      '',
    ].join('\n'),
  );
}

export function removeWorkspace(ws) {
  live.delete(ws);
  if (ws.smallFilesystem) {
    // A process still holding a file there keeps it busy: lazy unmount detaches it anyway.
    if (spawnSync('umount', [ws.mount], { stdio: 'ignore' }).status !== 0)
      spawnSync('umount', ['-l', ws.mount], { stdio: 'ignore' });
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
      ...(ws.services.libvirt?.planSource() ?? [
        '    type: qemu',
        '    disks:',
        `      - { key: ${DISK_KEY}, path: ${ws.source} }`,
      ]),
      repositoryLine(ws),
      `nbd: { ports: ${ports} }`,
      'incremental: { maxChainLength: 4 }',
      'retention: { keepLast: 4 }',
      '',
    ].join('\n'),
  );
}

// A restore plan of one point into a raw file; returns the plan's path. Options: `repository`
// (the copy's, say), `keyFile` (the key that opens it when encrypted), `name` (of the plan's file,
// for restores at once).
export function writeRestorePlan(
  ws,
  point,
  target,
  { repository = ws.repository, keyFile = ws.planKey, name = 'restore.yaml' } = {},
) {
  const file = join(ws.root, name);
  writeFileSync(
    file,
    [
      'version: 1',
      'kind: restore',
      'name: campaign-restore',
      `vm: { name: ${VM} }`,
      repositoryLine(ws, repository, keyFile),
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
  if (ws.services.libvirt) return ws.services.libvirt.write(rng);
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
  if (ws.services.libvirt) return ws.services.libvirt.digest();
  const raw = join(ws.restores, 'source.raw');
  execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', ws.source, raw]);
  try {
    return await sha256File(raw);
  } finally {
    rmSync(raw, { force: true });
  }
}
