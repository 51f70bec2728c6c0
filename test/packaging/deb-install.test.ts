// The Debian package installed by dpkg itself (docs/operations.md#the-debian-package): its
// maintainer scripts run for real (adduser, the directories), an upgrade over an older version
// keeps the state database and the plans and migrates the database on first use, and a purge
// leaves the backups and the state alone (docs/operations.md#upgrading, #removing-the-package).
//
// The clean root is a throw-away copy of this machine's: an overlay whose lower layer is `/` and
// whose upper layer is a directory of this test, mounted in a mount namespace of each command's own
// (`unshare --mount`), then `chroot` into it. dpkg, adduser and the package write only into the
// upper layer; this machine's users, dpkg database and /usr stay as they were. Before the first
// install the root is made clean of any sendense-run that this machine has (package, user, dirs),
// then the demo's mark is put on it: scripts/demo.sh, run as root before the package, leaves a
// root-owned /var/lib/sendense with a state database and a repository the service must be able to use.

import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { writePlan } from '../support/sendense-cli.js';
import { SqliteDatabase } from '../../src/store/sqlite-driver.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { createDisk, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { CHECKOUT, CLEAN_PATH, expectLatestRestores } from './installed-cli.js';

const ws = useRunWorkspace('deb-install-', { per: 'file' });
const ports = portRangeForTestFile(8);

// In the root, as the service keeps it (docs/operations.md#the-service-user-directories-and-unit).
const STATE_DB = '/var/lib/sendense/sendense.db';

let upper: string;
let work: string;
let merged: string;
let shared: string;
let olderDeb: string;
let newerDeb: string;
let version: string;
let hostUsers: string;
let demoPlan: string;
// The demo VM's disk, where scripts/demo.sh keeps it (in the root).
const DEMO_DISK = '/var/lib/sendense/vms/demo-disk0.qcow2';

// Mounts the overlay root, binds /proc, /sys, /dev and the test's shared directory (same path
// inside), and runs argv chrooted there; the mount namespace, and every mount, ends with it.
const ROOT_SCRIPT = `set -e
mount -t overlay overlay -o "lowerdir=/,upperdir=$1,workdir=$2" "$3"
for d in proc sys dev; do mount --rbind "/$d" "$3/$d"; done
mount -t tmpfs -o mode=0755 tmpfs "$3/run"
mkdir -p "$3$4" && mount --bind "$4" "$3$4"
root=$3; shift 4
exec chroot "$root" "$@"`;

// stdin is /dev/null: a dpkg that wants to ask fails at once instead of waiting.
async function inRoot(argv: readonly string[]) {
  const result = await execa(
    'unshare',
    ['--mount', '--fork', '--', 'sh', '-c', ROOT_SCRIPT, 'sendense-root', upper, work, merged, shared, ...argv],
    {
      reject: false,
      extendEnv: false,
      env: { PATH: CLEAN_PATH, HOME: '/root', LC_ALL: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' },
      stdin: 'ignore',
      timeout: 240_000,
    },
  );
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

async function inRootOk(argv: readonly string[]): Promise<string> {
  const result = await inRoot(argv);
  expect(result.exitCode, `${argv.join(' ')}:\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

const cli = (...args: string[]) => inRootOk(['/usr/bin/sendense-run', ...args]);

// What the package and its scripts wrote into the root (the overlay's upper layer).
const upperPath = (file: string) => path.join(upper, file);

// The same package under another version: what an older release's .deb is to dpkg. Stored
// uncompressed: the data's compression is nothing to dpkg's upgrade, and xz cost ~10 CPU-s here.
async function withVersion(deb: string, newVersion: string, out: string): Promise<string> {
  const tree = path.join(ws.dir, `tree-${newVersion}`);
  await execa('dpkg-deb', ['-R', deb, tree]);
  const control = path.join(tree, 'DEBIAN', 'control');
  writeFileSync(control, readFileSync(control, 'utf8').replace(/^Version: .*$/m, `Version: ${newVersion}`));
  await execa('dpkg-deb', ['--root-owner-group', '-Znone', '--build', tree, out]);
  return out;
}

beforeAll(async () => {
  const built = await execa('scripts/build-deb.sh', ['--no-build', ws.dir], { cwd: CHECKOUT });
  newerDeb = built.stdout.trim().split('\n').at(-1)!;
  version = (await execa('dpkg-deb', ['-f', newerDeb, 'Version'])).stdout.trim();
  hostUsers = readFileSync('/etc/passwd', 'utf8');
  olderDeb = await withVersion(newerDeb, '0.0.9', path.join(ws.dir, 'sendense-run-older.deb'));
  for (const dir of ['upper', 'work', 'merged', 'shared']) mkdirSync(path.join(ws.dir, dir));
  [upper, work, merged, shared] = ['upper', 'work', 'merged', 'shared'].map((dir) => path.join(ws.dir, dir));
  // The .debs, the disks and the repository live in the shared directory, bound at the same path.
  chmodSync(shared, 0o755);
  // A clean root: no sendense-run package, user or directories, whatever this machine has.
  await inRootOk([
    'sh',
    '-c',
    'dpkg --purge sendense-run >/dev/null 2>&1 || true; if getent passwd sendense >/dev/null; then deluser --system sendense >/dev/null; fi; rm -rf /var/lib/sendense /etc/sendense /usr/lib/sendense-run /usr/bin/sendense-run',
  ]);
  // The demo before the package: the checkout's CLI as root, its VM, state and repository there.
  await inRootOk([
    'sh',
    '-c',
    'mkdir -p /var/lib/sendense/vms && qemu-img create -q -f qcow2 "$1" 16M && qemu-io -f qcow2 -c "write -P 0x33 0 2M" "$1" >/dev/null',
    'sh',
    DEMO_DISK,
  ]);
  demoPlan = writePlan(shared, {
    name: 'demo-before-package',
    vm: 'demo-vm',
    disks: [{ key: 2000, path: DEMO_DISK, format: 'qcow2' }],
    repository: '/var/lib/sendense/repository',
    ports,
  });
  await inRootOk([process.execPath, path.join(CHECKOUT, 'bin', 'sendense-run.js'), demoPlan, '--db', STATE_DB]);
}, 300_000);

describe('the Debian package installed with dpkg in a clean root', () => {
  it(
    'installs: the sendense user and its directories, the command on PATH, the older version first',
    { timeout: 300_000 },
    async () => {
      const older = path.join(shared, 'older.deb');
      writeFileSync(older, readFileSync(olderDeb));
      const installed = await inRoot(['dpkg', '-i', older]);
      expect(installed.exitCode, installed.stderr).toBe(0);
      expect(installed.stderr).toContain(
        'sendense-run: /var/lib/sendense was made by root before this package (scripts/demo.sh?): what root made there is now the sendense user',
      );
      expect(await inRootOk(['dpkg-query', '-W', '-f', '${Status} ${Version}', 'sendense-run'])).toBe(
        'install ok installed 0.0.9',
      );
      const user = (await inRootOk(['getent', 'passwd', 'sendense'])).trim().split(':');
      expect(user[5]).toBe('/var/lib/sendense');
      expect(user[6]).toBe('/usr/sbin/nologin');
      const owner = (
        await inRootOk(['stat', '-c', '%U:%G %a', '/var/lib/sendense', '/var/lib/sendense/.ssh', '/etc/sendense/plans'])
      )
        .trim()
        .split('\n');
      expect(owner).toEqual(['sendense:sendense 700', 'sendense:sendense 700', 'root:sendense 750']);
      // What the demo made as root is the service's now: it runs the demo's plan again (an
      // incremental into that chain) as sendense, writing the database and the repository.
      expect((await inRootOk(['stat', '-c', '%U', STATE_DB, '/var/lib/sendense/repository'])).trim()).toBe(
        'sendense\nsendense',
      );
      await inRootOk(['cp', demoPlan, '/etc/sendense/plans/demo.yaml']);
      await inRootOk(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x44 4M 1M', DEMO_DISK]);
      const asService = await inRootOk([
        'setpriv',
        '--reuid=sendense',
        '--regid=sendense',
        '--init-groups',
        'env',
        'HOME=/var/lib/sendense',
        '/usr/bin/sendense-run',
        '/etc/sendense/plans/demo.yaml',
        '--db',
        STATE_DB,
      ]);
      expect(asService).toMatch(/succeeded in .*backup \S+/);
      expect(asService).toMatch(/incremental/);
      // The service may use this host's libvirt (docs/operations.md#libvirt-access).
      expect((await inRootOk(['id', '-nG', 'sendense'])).trim().split(' ')).toContain('libvirt');
      expect(await cli('--version')).toMatch(/^sendense-run \d+\.\d+\.\d+ \(Node\.js /);
      // The user is in the root's /etc/passwd only: this machine's users stay as they were.
      expect(readFileSync(upperPath('etc/passwd'), 'utf8')).toMatch(/^sendense:/m);
      expect(readFileSync('/etc/passwd', 'utf8')).toBe(hostUsers);
    },
  );

  it(
    'backs up with the older version, is upgraded over it keeping the database, plans and edits, and goes on with the chain',
    { timeout: 300_000 },
    async () => {
      const disk = createDisk(path.join(shared, 'disk0.qcow2'), 16 * 1024 * 1024);
      writeDisk(disk, ['write -P 0x11 0 4M']);
      const repository = path.join(shared, 'repository');
      const plan = writePlan(shared, {
        name: 'packaged',
        vm: 'packaged-vm',
        disks: [{ key: 2000, path: disk, format: 'qcow2' }],
        repository,
        ports,
      });
      await cli(plan, '--db', STATE_DB);
      // The operator's plan and an edit of a conffile.
      await inRootOk(['cp', plan, '/etc/sendense/plans/packaged.yaml']);
      await inRootOk(['sh', '-c', 'echo "# edited by the operator" >>/etc/sendense/hub.yaml.example']);
      // The database as the release before 015-protected-points left it (015 only adds
      // backups.protected, 016-api the API's tables and runs.actor, 017-vm-wait runs.vm_wait_seconds,
      // 018-checkpoint-records two tables, 019-replica-point-order replica_points.seq,
      // 020-api-task-process api_tasks.pid_start_ticks, 021-repository-numbers a table,
      // 022-refused-runs runs.refused, 023-change-samples two backup_disks columns,
      // 024-suspect-points four backups columns and a table, 025-drills a table, 026-layer-facts five
      // backup_disks columns, an index, a table and its triggers, 028-acknowledged-runs two runs columns):
      // what the first command of the newer version must migrate (the older version's point has no
      // facts recorded: the first listing reads them).
      const db = new SqliteDatabase(upperPath(STATE_DB));
      db.exec(
        'ALTER TABLE backups DROP COLUMN protected; ALTER TABLE runs DROP COLUMN actor; ALTER TABLE runs DROP COLUMN vm_wait_seconds; ' +
          'DROP TABLE api_tokens; DROP TABLE api_audit; DROP TABLE api_tasks; ' +
          'DROP TABLE checkpoint_domains; DROP TABLE retired_chains; ' +
          'DROP INDEX replica_points_seq; ALTER TABLE replica_points DROP COLUMN seq; ' +
          'DROP TABLE repository_numbers; ALTER TABLE runs DROP COLUMN refused; ' +
          'ALTER TABLE backup_disks DROP COLUMN sampled_blocks; ALTER TABLE backup_disks DROP COLUMN incompressible_blocks; ' +
          'ALTER TABLE backups DROP COLUMN suspect; ALTER TABLE backups DROP COLUMN suspect_cleared_by; ' +
          'ALTER TABLE backups DROP COLUMN suspect_cleared_at; ALTER TABLE backups DROP COLUMN held_by; ' +
          'DROP INDEX point_figures_vm; DROP TABLE point_figures; DROP INDEX drills_vm; DROP TABLE drills; ' +
          ['backups', 'backup_disks']
            .flatMap((table) =>
              ['insert', 'update', 'delete'].map((change) => `DROP TRIGGER ${table}_${change}_counted; `),
            )
            .join('') +
          'DROP TABLE backup_changes; DROP INDEX backups_vm_seq; ' +
          ['facts_at', 'on_disk_bytes', 'encrypted', 'backing', 'header_problem']
            .map((column) => `ALTER TABLE backup_disks DROP COLUMN ${column}; `)
            .join('') +
          'ALTER TABLE runs DROP COLUMN acknowledged_by; ALTER TABLE runs DROP COLUMN acknowledged_at; ' +
          "DELETE FROM kysely_migration WHERE name IN ('015-protected-points', '016-api', '017-vm-wait', '018-checkpoint-records', '019-replica-point-order', '020-api-task-process', '021-repository-numbers', '022-refused-runs', '023-change-samples', '024-suspect-points', '025-drills', '026-layer-facts', '028-acknowledged-runs')",
      );
      db.close();

      const newer = path.join(shared, 'newer.deb');
      writeFileSync(newer, readFileSync(newerDeb));
      // No --force-conf*: dpkg must not need to ask (stdin is not a terminal).
      await inRootOk(['dpkg', '-i', newer]);
      expect(await inRootOk(['dpkg-query', '-W', '-f', '${Version}', 'sendense-run'])).toBe(version);
      expect(readFileSync(upperPath('etc/sendense/plans/packaged.yaml'), 'utf8')).toBe(readFileSync(plan, 'utf8'));
      expect(readFileSync(upperPath('etc/sendense/hub.yaml.example'), 'utf8')).toMatch(/# edited by the operator\n$/);

      // The first command migrates; the point taken by the older version is there.
      const listed = await cli('backups', '--vm', 'packaged-vm', '--json', '--db', STATE_DB);
      expect(
        listed
          .trim()
          .split('\n')
          .map((line) => (JSON.parse(line) as { type: string }).type),
      ).toEqual(['full']);
      const check = new SqliteDatabase(upperPath(STATE_DB));
      expect(
        check
          .prepare(
            "SELECT count(*) AS n FROM kysely_migration WHERE name IN ('015-protected-points', '016-api', '017-vm-wait', '018-checkpoint-records', '019-replica-point-order', '020-api-task-process', '021-repository-numbers', '022-refused-runs', '023-change-samples', '024-suspect-points', '025-drills', '026-layer-facts', '028-acknowledged-runs')",
          )
          .get(),
      ).toEqual({ n: 13 });
      check.close();

      // The chain goes on across the upgrade, and its newest point restores exactly.
      writeDisk(disk, ['write -P 0x22 8M 1M']);
      const copy = keepCopy(disk, path.join(shared, 'disk0-at-incremental.qcow2'));
      await cli('/etc/sendense/plans/packaged.yaml', '--db', STATE_DB);
      await expectLatestRestores(
        (args) => inRoot(['/usr/bin/sendense-run', ...args]),
        { dir: shared, db: STATE_DB, vm: 'packaged-vm', repository, ports },
        copy,
      );
    },
  );

  it('is purged leaving the state database, the backups, the plans and the user', { timeout: 300_000 }, async () => {
    const repositoryBefore = (
      await execa('find', [path.join(shared, 'repository'), '-type', 'f', '-printf', '%P %s\n'])
    ).stdout;
    await inRootOk(['dpkg', '--purge', 'sendense-run']);
    expect(await inRoot(['dpkg-query', '-W', '-f', '${Status}', 'sendense-run'])).toMatchObject({
      stdout: expect.not.stringContaining('installed'),
    });
    expect(await inRoot(['sh', '-c', 'ls -d /usr/lib/sendense-run /usr/bin/sendense-run 2>/dev/null'])).toMatchObject({
      stdout: '',
    });
    // Conffiles go with a purge; what the operator put there, and the state, stay.
    expect(existsSync(upperPath('etc/sendense/hub.yaml.example'))).toBe(false);
    expect(existsSync(upperPath('etc/sendense/plans/packaged.yaml'))).toBe(true);
    expect(await inRoot(['test', '-s', STATE_DB]), `${STATE_DB} is gone`).toMatchObject({ exitCode: 0 });
    expect((await inRootOk(['getent', 'passwd', 'sendense'])).startsWith('sendense:')).toBe(true);
    expect((await execa('find', [path.join(shared, 'repository'), '-type', 'f', '-printf', '%P %s\n'])).stdout).toBe(
      repositoryBefore,
    );
    expect(readFileSync('/etc/passwd', 'utf8')).toBe(hostUsers);
  });
});
