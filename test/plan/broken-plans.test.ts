// Every kind of plan mistake gives one clear message at FILE:LINE:COL and exit code 2.

import { describe, expect, it } from 'vitest';
import { SendenseError } from '../../src/errors.js';
import { loadPlanForRun } from '../../src/plan/load.js';
import { runCli } from './run-validate.js';

const DIR = 'test/fixtures/plans';

const CASES: readonly { readonly name: string; readonly file: string; readonly lines: readonly string[] }[] = [
  {
    name: 'a YAML syntax error',
    file: 'yaml-syntax.yaml',
    lines: ['7:1: YAML error: Flow sequence in block collection must be sufficiently indented and end with a ]'],
  },
  {
    name: 'an unknown key, pointing at the key and naming the keys allowed there',
    file: 'unknown-key.yaml',
    lines: ["8:5: unknown key 'disk' in vm.source, did you mean 'disks'? (expected one of: type, disks)"],
  },
  {
    name: 'a wrong type',
    file: 'wrong-type.yaml',
    lines: ["16:11: nbd.shared: expected an integer, got the string 'ten'"],
  },
  { name: 'a missing required key', file: 'missing-required.yaml', lines: ["1:1: missing required key 'repository'"] },
  {
    name: 'a bad enum value',
    file: 'bad-enum.yaml',
    lines: [
      "2:7: kind: must be one of backup, incremental, restore, verify, recover, replicate, copy, drill (got 'incremantal')",
    ],
  },
  {
    name: 'a duplicate disk key, naming the line of the first',
    file: 'duplicate-disk-key.yaml',
    lines: ['11:14: vm.source.disks[1].key: duplicate disk key 2000 (first at line 9)'],
  },
  {
    name: 'a reversed port range',
    file: 'reversed-ports.yaml',
    lines: ['16:10: nbd.ports: range 10200-10100 is reversed (write 10100-10200)'],
  },
  {
    name: 'a port range smaller than the number of disks',
    file: 'small-ports.yaml',
    lines: ['16:10: nbd.ports: range 10100-10100 has 1 port but the plan needs one per disk (2 disks)'],
  },
  {
    name: 'a bad cron expression',
    file: 'bad-cron.yaml',
    lines: ["15:11: schedule: invalid cron expression '61 2 * * *': Invalid value for minute: 61"],
  },
  {
    name: 'an unknown time zone',
    file: 'bad-timezone.yaml',
    lines: ["16:11: timezone: unknown time zone 'Europe/Londn' (expected an IANA name like Europe/London or UTC)"],
  },
  {
    name: 'a relative path',
    file: 'relative-path.yaml',
    lines: ["12:15: vm.source.disks[1].path: must be an absolute path on the node (got 'vms/disk1.qcow2')"],
  },
  {
    name: 'a restore point that is not a real time',
    file: 'restore-bad-point.yaml',
    lines: ["9:10: restore.point: '2025-02-30T02:00:00Z' is not a valid time"],
  },
  {
    name: 'backup-only parts in a restore plan, and a target without {key}',
    file: 'restore-with-source.yaml',
    lines: [
      '6:3: vm.source: not allowed in a plan of kind restore',
      '11:1: incremental: not allowed in a plan of kind restore',
      '17:11: restore.target.path: must contain {key} (the disk key) because restore.disks lists 2 disks',
    ],
  },
  {
    name: 'a domain target: a bad name, a relative path without {key}, an unknown network and field',
    file: 'restore-domain-bad.yaml',
    lines: [
      "11:13: restore.target.domain: must be letters, digits, '.', '_', '+' and '-', starting with a letter or digit (got 'pgtest1 copy')",
      "12:11: restore.target.path: must be an absolute path on the node (got 'restore/pgtest1.qcow2')",
      '12:11: restore.target.path: must contain {key} (the disk key) because restore.disks is not given, so every disk of the backup is restored',
      "13:14: restore.target.network: must be one of none, keep (got 'bridge')",
      "14:5: unknown key 'mac' in restore.target (expected one of: type, uri, domain, path, start, network)",
    ],
  },
  {
    name: 'disk keys that are not safe integers (they name files and exports)',
    file: 'unsafe-disk-keys.yaml',
    lines: [
      '9:14: vm.source.disks[0].key: must be at most 9007199254740991 (got 1e+300)',
      '11:14: vm.source.disks[1].key: must be at most 9007199254740991 (got 9007199254740992)',
    ],
  },
  {
    name: 'the same image under two disk keys, however the path is spelled',
    file: 'same-image-twice.yaml',
    lines: ['12:15: vm.source.disks[1].path: the same image as disk 2000 (line 10): each disk key needs its own image'],
  },
  {
    name: 'NBD URL ports outside 1-65535',
    file: 'nbd-url-port.yaml',
    lines: [
      '10:14: vm.source.disks[0].url: port 99999 is out of range (1-65535)',
      '12:14: vm.source.disks[1].url: port 0 is out of range (1-65535)',
    ],
  },
  {
    name: 'more disks than the default port range holds',
    file: 'default-ports-too-small.yaml',
    lines: [
      '9:7: nbd.ports: the default range 10100-10200 has 101 ports but the plan needs one per disk (150 disks) (set nbd.ports to a larger range)',
    ],
  },
  {
    name: "a restore target inside the plan's own repository",
    file: 'restore-into-repository.yaml',
    lines: [
      '12:11: restore.target.path: /backup/repository/pgtest1/disk-{key}/restored.qcow2 is inside the repository /backup/repository; a restore never writes into a repository',
    ],
  },
  {
    name: 'keepChains combined with keep-* retention rules',
    file: 'retention-mixed.yaml',
    lines: [
      '15:14: retention.keepDaily: cannot be combined with retention.keepChains (keep whole chains, or points with keep-* rules, not both)',
    ],
  },
  {
    name: 'busy with a wait that is no duration',
    file: 'busy-wrong.yaml',
    lines: ["14:9: busy.wait: must be a duration like 90s, 30m, 6h or 1h30m (got 'soon')"],
  },
  {
    name: 'all the mistakes of a file, not just the first',
    file: 'many-mistakes.yaml',
    lines: [
      '1:10: version: must be 1 (got 2)',
      "3:7: name: must be lowercase letters, digits and '-', starting with a letter or digit (got 'Many_Mistakes')",
      "9:9: unknown key 'keey' in vm.source.disks[0], did you mean 'key'? (expected one of: key, path, format)",
      "13:17: vm.source.disks[1].format: must be one of qcow2, raw (got 'vmdk')",
      "17:13: timeouts.transfer: must be a duration like 90s, 30m, 6h or 1h30m (got '6 hours')",
      "21:11: hooks.before[0].on: must be one of hub, node (got 'elsewhere')",
    ],
  },
];

describe('validate reports a broken plan', () => {
  for (const { name, file, lines } of CASES) {
    it(name, async () => {
      const result = await runCli(['validate', `${DIR}/${file}`]);
      expect(result.exitCode).toBe(2);
      const errors = result.stdout.trim().split('\n').slice(0, -1);
      expect(errors).toEqual(lines.map((line) => `${DIR}/${file}:${line}`));
      expect(result.stdout).toContain(
        `1 plan checked, 1 invalid, ${lines.length} error${lines.length === 1 ? '' : 's'}`,
      );
      expect(result.stderr).toBe('');
    });
  }

  it('a literal password, without ever printing it', async () => {
    const result = await runCli(['validate', `${DIR}/literal-secret.yaml`, `${DIR}/literal-secret-env.yaml`]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).not.toContain('Hunter2');
    expect(result.stdout.split('\n').slice(0, 2)).toEqual([
      `${DIR}/literal-secret.yaml:10:5: vm.source.password: a secret must not be written in a plan; name an environment variable with passwordEnv, or a file with passwordFile (the value is not shown)`,
      `${DIR}/literal-secret-env.yaml:10:18: vm.source.passwordEnv: must be the NAME of an environment variable, like VCENTER_PASSWORD, not the password itself (the value is not shown)`,
    ]);
    const json = await runCli([
      'validate',
      '--format',
      'json',
      `${DIR}/literal-secret.yaml`,
      `${DIR}/literal-secret-env.yaml`,
    ]);
    expect(json.stdout).not.toContain('Hunter2');
  });

  it('the same plan name in two files, at the second file naming the first', async () => {
    const result = await runCli(['validate', `${DIR}/duplicate-names`]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe(
      `${DIR}/duplicate-names/b.yaml:3:7: name: plan name 'same-name' is already used by ${DIR}/duplicate-names/a.yaml\n` +
        '2 plans checked, 1 invalid, 1 error, 0 warnings\n',
    );
  });

  it('one disk image under two VM names, at the later plan\u2019s disk naming the first; the same VM in two plans is fine', async () => {
    const result = await runCli(['validate', `${DIR}/shared-source`]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe(
      `${DIR}/shared-source/b-db2.yaml:10:28: vm.source.disks[1].path: disk image /var/lib/libvirt/images/db1-root.qcow2 on this host is read as VM 'db1' by ${DIR}/shared-source/a-db1.yaml, here as VM 'db2': one source belongs to one VM name\n` +
        '3 plans checked, 1 invalid, 1 error, 0 warnings\n',
    );
  });

  it('two replicate plans on one replica.path on one node, at the later plan\u2019s path naming the first file; another path is fine', async () => {
    const result = await runCli([
      'validate',
      `${DIR}/shared-replica/a-web1.yaml`,
      `${DIR}/shared-replica/b-web2.yaml`,
      `${DIR}/shared-replica/c-web3.yaml`,
    ]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe(
      `${DIR}/shared-replica/b-web2.yaml:9:9: replica.path: /var/lib/libvirt/images/standby-{key}.qcow2 on kvm2.example.com is also the replica of plan 'web1-replica' in ${DIR}/shared-replica/a-web1.yaml: each replicate plan needs its own replica.path\n` +
        '3 plans checked, 1 invalid, 1 error, 0 warnings\n',
    );
  });

  it('a missing environment variable as a warning (validate still passes)', async () => {
    const result = await runCli(['validate', `${DIR}/missing-env.yaml`]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(
      `${DIR}/missing-env.yaml:14:9: warning: repository.path: environment variable SENDENSE_TEST_REPO_UNSET is not set here (a run would fail)\n` +
        '1 plan checked, 0 invalid, 0 errors, 1 warning\n',
    );
  });

  it('a missing environment variable as an error when a run loads the plan', async () => {
    const error = await loadPlanForRun(`${DIR}/missing-env.yaml`, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SendenseError);
    expect(error).toMatchObject({ exitCode: 2, file: `${DIR}/missing-env.yaml`, line: 14, column: 9 });
    expect((error as SendenseError).describe()).toBe(
      `${DIR}/missing-env.yaml:14:9: repository.path: environment variable SENDENSE_TEST_REPO_UNSET is not set`,
    );
  });

  it('a path that does not exist, by name', async () => {
    const result = await runCli(['validate', `${DIR}/no-such-plan.yaml`]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe(
      `${DIR}/no-such-plan.yaml: no such file or directory\n0 plans checked, 1 invalid, 1 error, 0 warnings\n`,
    );
  });

  it('as JSON for tools: --format json is one document, --json one object per line', async () => {
    const document = await runCli(['validate', '--format', 'json', `${DIR}/bad-enum.yaml`]);
    expect(document.exitCode).toBe(2);
    const parsed = JSON.parse(document.stdout) as { ok: boolean; files: { errors: unknown[] }[] };
    expect(parsed.ok).toBe(false);
    expect(parsed.files[0].errors).toEqual([
      {
        file: `${DIR}/bad-enum.yaml`,
        line: 2,
        column: 7,
        severity: 'error',
        message:
          "kind: must be one of backup, incremental, restore, verify, recover, replicate, copy, drill (got 'incremantal')",
      },
    ]);
    const lines = await runCli(['--json', 'validate', `${DIR}/bad-enum.yaml`]);
    expect(
      lines.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { type: string })
        .map((line) => line.type),
    ).toEqual(['error', 'summary']);
  });

  it('usage mistakes: no path, an unknown format', async () => {
    expect(await runCli(['validate'])).toMatchObject({
      exitCode: 2,
      stderr: 'sendense-run: validate needs at least one plan FILE or DIR\n',
    });
    expect(await runCli(['validate', '--format', 'xml', 'plans'])).toMatchObject({
      exitCode: 2,
      stderr: "sendense-run: --format must be text, json, jsonl or github (got 'xml')\n",
    });
  });
});
