// The Debian package (docs/operations.md#the-debian-package): scripts/build-deb.sh builds it from the
// checkout, lintian finds no error, and its files run on their own, extracted with `dpkg-deb -x`.
// Its postinst is also run here against stand-in commands, for the calls it makes; dpkg itself
// installs, upgrades and purges it in ./deb-install.test.ts.

import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { backUpAndRestore, CHECKOUT, CLEAN_PATH, runInstalled } from './installed-cli.js';

const ws = useRunWorkspace('deb-package-', { per: 'file' });
const ports = portRangeForTestFile(8);

const INSTALLED_SCHEMA = 'usr/lib/sendense-run/schemas/plan.schema.json';

let deb: string;
let root: string;
let bin: string;

beforeAll(async () => {
  const started = performance.now();
  const built = await execa('scripts/build-deb.sh', ['--no-build', ws.dir], { cwd: CHECKOUT });
  deb = built.stdout.trim().split('\n').at(-1)!;
  root = path.join(ws.dir, 'root');
  await execa('dpkg-deb', ['-x', deb, root]);
  bin = path.join(root, 'usr', 'bin', 'sendense-run');
  console.log(
    `deb: ${path.basename(deb)}, ${readFileSync(deb).length} B, built in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}, 300_000);

const field = async (name: string) => (await execa('dpkg-deb', ['-f', deb, name])).stdout.trim();

describe('the Debian package', () => {
  it('passes lintian without errors', async () => {
    const result = await execa('lintian', ['--pedantic', deb], { reject: false });
    const tags = String(result.stdout).split('\n').filter(Boolean);
    console.log(`lintian:\n${tags.join('\n') || '(nothing)'}`);
    expect(tags.filter((tag) => tag.startsWith('E:'))).toEqual([]);
  });

  it('is for this architecture and depends on what the core runs', async () => {
    // The compiled addons (better-sqlite3, ssh2's crypto) make it architecture-specific.
    expect(await field('Architecture')).toBe((await execa('dpkg', ['--print-architecture'])).stdout.trim());
    const depends = await field('Depends');
    for (const name of ['nodejs (>= ', 'qemu-utils', 'adduser', 'libc6']) expect(depends).toContain(name);
    expect(await field('Recommends')).toContain('libvirt-clients');
  });

  it('marks everything in /etc as a conffile, and its postrm never removes the state', async () => {
    const control = path.join(ws.dir, 'control');
    await execa('dpkg-deb', ['-e', deb, control]);
    const conffiles = readFileSync(path.join(control, 'conffiles'), 'utf8').trim().split('\n');
    expect(conffiles).toContain('/etc/sendense/hub.yaml.example');
    expect(conffiles).toContain('/etc/sendense/examples/backup-full.yaml');
    const etc = (await execa('find', ['etc', '-type', 'f'], { cwd: root })).stdout.trim().split('\n');
    expect([...conffiles].sort()).toEqual(etc.map((file) => `/${file}`).sort());
    expect(readFileSync(path.join(control, 'postrm'), 'utf8')).not.toMatch(/\brm\b|deluser|userdel/);
  });

  it("ships the hub API's unit beside the scheduler's, and the console's assets", () => {
    const unit = readFileSync(path.join(root, 'lib/systemd/system/sendense-run-api.service'), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/sendense-run api \/etc\/sendense\/plans$/m);
    expect(existsSync(path.join(root, 'lib/systemd/system/sendense-run-schedule.service'))).toBe(true);
    expect(existsSync(path.join(root, 'usr/lib/sendense-run/dist/console/index.html'))).toBe(true);
  });

  it(
    'runs from the extracted files: --version, schema --path, a hub config, a full, incremental and restore',
    { timeout: 300_000 },
    async () => {
      expect(readlinkSync(bin)).toBe('../lib/sendense-run/bin/sendense-run.js');
      expect((await runInstalled(bin, ['--version'], ws.dir)).stdout).toMatch(
        /^sendense-run \d+\.\d+\.\d+ \(Node\.js /,
      );
      const schema = await runInstalled(bin, ['schema', '--path'], ws.dir);
      expect(schema.stdout.trim()).toBe(path.join(root, INSTALLED_SCHEMA));

      const examples = path.join(root, 'etc', 'sendense', 'examples');
      const validate = await runInstalled(bin, ['validate', examples, '--db', ws.db], ws.dir);
      expect(validate.exitCode, `${validate.stdout}\n${validate.stderr}`).toBe(0);
      // The examples' schema lines lead to the schema where the package installs it (validate warns
      // here: this root is not /).
      for (const plan of readdirSync(examples))
        expect(readFileSync(path.join(examples, plan), 'utf8')).toContain(`$schema=/${INSTALLED_SCHEMA}\n`);
      expect(existsSync(path.join(root, INSTALLED_SCHEMA))).toBe(true);
      // The example hub config is read without a complaint (the dry run then fails: the plan's VM is not here).
      const hubConfig = path.join(root, 'etc', 'sendense', 'hub.yaml.example');
      const dryRun = await runInstalled(
        bin,
        [path.join(examples, 'backup-full.yaml'), '--dry-run', '--hub-config', hubConfig, '--db', ws.db],
        ws.dir,
      );
      expect(`${dryRun.stdout}${dryRun.stderr}`).not.toContain('hub config');
      expect(dryRun.stdout).toContain('dry run of backup plan');

      const dir = path.join(ws.dir, 'round-trip');
      mkdirSync(dir);
      await backUpAndRestore(bin, dir, ws.db, ports);
    },
  );

  it('has a man page from docs/commands.md that groff reads without a warning', async () => {
    const page = path.join(root, 'usr', 'share', 'man', 'man1', 'sendense-run.1.gz');
    const result = await execa('sh', ['-c', `zcat "$1" | groff -man -ww -z`, 'sh', page], {
      reject: false,
      env: { LC_ALL: 'C.UTF-8' },
    });
    expect(result.stderr).toBe('');
    expect((await execa('zcat', [page])).stdout).toContain('.SS verify');
  });

  // Stand-ins for the commands the postinst calls, logging their arguments (getent: whether the
  // user exists); then the postinst run as dpkg runs it. No /run/systemd/system here.
  async function runPostinst(name: string, args: readonly string[], userExists: boolean): Promise<string> {
    const shims = path.join(ws.dir, `shims-${name}`);
    mkdirSync(shims);
    const log = path.join(shims, 'calls.log');
    writeFileSync(log, '');
    const shim = (command: string, status: number) => {
      writeFileSync(path.join(shims, command), `#!/bin/sh\necho "${command} $*" >>"${log}"\nexit ${status}\n`);
      chmodSync(path.join(shims, command), 0o755);
    };
    shim('getent', userExists ? 0 : 2);
    shim('dpkg-statoverride', 1); // no local override of /etc/sendense/plans
    for (const command of ['adduser', 'install', 'chown', 'chmod', 'systemctl', 'deb-systemd-invoke']) shim(command, 0);
    const control = path.join(ws.dir, 'control');
    if (!existsSync(control)) await execa('dpkg-deb', ['-e', deb, control]);
    await execa('sh', [path.join(control, 'postinst'), ...args], { env: { PATH: `${shims}:${CLEAN_PATH}` } });
    return readFileSync(log, 'utf8');
  }

  it('postinst of a first install adds the sendense user with adduser, no systemd needed', async () => {
    const calls = await runPostinst('install', ['configure', ''], false);
    expect(calls).toContain('adduser --system --group --home /var/lib/sendense --no-create-home');
    expect(calls).toContain('chown root:sendense /etc/sendense /etc/sendense/plans');
    expect(calls).not.toMatch(/systemctl|deb-systemd-invoke/);
  });

  it('postinst of an upgrade keeps the user there is', async () => {
    const calls = await runPostinst('upgrade', ['configure', '0.0.9'], true);
    // The user is not made again; it only joins libvirt's group (docs/operations.md#libvirt-access).
    expect(calls).not.toContain('adduser --system');
    expect(calls.match(/^adduser .*$/gm)).toEqual(['adduser sendense libvirt']);
    expect(calls).not.toMatch(/systemctl|deb-systemd-invoke/);
  });
});
