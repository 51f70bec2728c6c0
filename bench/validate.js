// Validation speed for CI: `sendense-run validate` over 200 plans vs over 1 plan, whole CLI
// processes (start-up included) and in-process (the work itself). Needs `npm run build`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root } from './support/built.js';
import { median } from './support/stats.js';

const runs = Number(process.env.BENCH_RUNS ?? 5);
const dir = mkdtempSync(path.join(os.tmpdir(), 'sendense-bench-validate-'));
const one = mkdtempSync(path.join(os.tmpdir(), 'sendense-bench-validate1-'));
try {
  const template = readFileSync(path.join(root, 'plans/pgtest1-nightly.yaml'), 'utf8');
  for (let i = 0; i < 200; i++) {
    writeFileSync(
      path.join(dir, `plan-${String(i).padStart(3, '0')}.yaml`),
      template.replace('name: pgtest1-nightly', `name: plan-${i}`),
    );
  }
  writeFileSync(path.join(one, 'plan.yaml'), template);
  const cli = (target) => {
    const started = performance.now();
    const result = spawnSync(process.execPath, [path.join(root, 'bin/sendense-run.js'), 'validate', target], {
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`validate failed: ${result.stdout}${result.stderr}`);
    return performance.now() - started;
  };
  cli(dir); // warm-up (page cache)
  const many = [];
  const single = [];
  for (let i = 0; i < runs; i++) {
    many.push(cli(dir));
    single.push(cli(one));
  }
  const { validatePlanFiles } = await import(path.join(root, 'dist/src/plan/validate-plan-files.js'));
  await validatePlanFiles([one]); // schema compiled once
  const inProcess = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await validatePlanFiles([dir]);
    inProcess.push(performance.now() - started);
  }
  console.log(`validate CLI, 200 plans: median ${median(many).toFixed(0)} ms; 1 plan: ${median(single).toFixed(0)} ms`);
  console.log(
    `=> 200 plans cost ${(median(many) - median(single)).toFixed(0)} ms more than 1 plan (start-up excluded)`,
  );
  console.log(`validatePlanFiles in-process, 200 plans: median ${median(inProcess).toFixed(0)} ms (${runs} runs)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
  rmSync(one, { recursive: true, force: true });
}
