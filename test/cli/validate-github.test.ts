// validate in CI: --format github prints GitHub Actions annotations (error and warning, with
// file, line and column, escaped as the Actions toolkit does), then the summary; exit 2 on errors.

import { describe, expect, it } from 'vitest';
import { runCli } from '../plan/run-validate.js';

const DIR = 'test/fixtures/plans';

describe('validate --format github', () => {
  it('an error and a warning as ::error / ::warning annotations on their line and column', async () => {
    const result = await runCli(['validate', '--format', 'github', `${DIR}/bad-enum.yaml`, `${DIR}/missing-env.yaml`]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout.split('\n')).toEqual([
      `::error file=${DIR}/bad-enum.yaml,line=2,col=7,title=sendense-run validate::kind: must be one of backup, incremental, restore, verify, recover, replicate, copy, drill (got 'incremantal')`,
      `::warning file=${DIR}/missing-env.yaml,line=14,col=9,title=sendense-run validate::repository.path: environment variable SENDENSE_TEST_REPO_UNSET is not set here (a run would fail)`,
      '2 plans checked, 1 invalid, 1 error, 1 warning',
      '',
    ]);
  });

  it('a path that does not exist: an annotation on the file, without line or column', async () => {
    const result = await runCli(['validate', '--format', 'github', `${DIR}/no-such-plan.yaml`]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout.split('\n')[0]).toBe(
      `::error file=${DIR}/no-such-plan.yaml,title=sendense-run validate::no such file or directory`,
    );
  });

  it('every diagnostic of the JSON formats carries its severity', async () => {
    const document = JSON.parse((await runCli(['validate', '--format', 'json', `${DIR}/missing-env.yaml`])).stdout) as {
      files: { warnings: { severity: string }[] }[];
    };
    expect(document.files[0].warnings.map((warning) => warning.severity)).toEqual(['warning']);
    const lines = (await runCli(['validate', '--format', 'jsonl', `${DIR}/bad-enum.yaml`])).stdout.trim().split('\n');
    expect(JSON.parse(lines[0])).toMatchObject({ type: 'error', severity: 'error', line: 2, column: 7 });
  });
});
