// `npm run campaign -- --faults N --seed S [--mode M] [--minutes M] [--fault-percent P] [--ports A-B] [--shrink [--shrink-minutes M]] [--quiet]`: a randomized
// fault campaign against the built CLI (see bench/README.md, "campaign"). `--replay FILE` runs the
// steps a shrink wrote out (in the mode it names). Ends with `campaign: F faults, O operations, P
// points compared, V violations`, also when stopped by SIGINT, SIGTERM or SIGHUP.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Campaign, MODES, describeStep, killAllServices, modeName, parseMode } from './campaign.js';
import { shrink } from './shrink.js';
import { stopRunning } from './run-cli.js';
import { removeAllWorkspaces, tmpParent, usePorts } from './workspace.js';

const USAGE = `usage: npm run campaign -- --faults N --seed S [--mode plain|MODE[+MODE...]] [--minutes M] [--fault-percent P] [--ports A-B] [--shrink [--shrink-minutes M]] [--quiet] | --replay FILE.json
  MODE: ${MODES.join(', ')} (default plain: a qemu source, SQLite, an unencrypted repository)`;

function parseArgs(argv) {
  const options = {
    faults: 100,
    seed: Date.now() % 1_000_000,
    mode: new Set(),
    shrink: false,
    quiet: false,
    replay: undefined,
    minutes: undefined,
    shrinkMinutes: 10,
    faultPercent: 65,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) fail(`${arg} needs a value`);
      return next;
    };
    if (['--faults', '--seed', '--minutes', '--shrink-minutes', '--fault-percent'].includes(arg)) {
      const text = value();
      if (!/^\d+$/.test(text)) fail(`${arg}: not a whole number: ${text}`);
      if (arg === '--fault-percent' && Number(text) > 100) fail(`--fault-percent: more than 100: ${text}`);
      const key = { '--shrink-minutes': 'shrinkMinutes', '--fault-percent': 'faultPercent' }[arg] ?? arg.slice(2);
      options[key] = Number(text);
    } else if (arg === '--shrink') options.shrink = true;
    else if (arg === '--quiet') options.quiet = true;
    else if (arg === '--replay') options.replay = value();
    else if (arg === '--mode') {
      const text = value();
      options.mode = parseMode(text);
      if (options.mode === undefined) fail(`--mode: not plain nor modes of ${MODES.join(', ')} joined by +: ${text}`);
    } else if (arg === '--ports') {
      const text = value();
      if (!/^\d+-\d+$/.test(text)) fail(`--ports: not a range FIRST-LAST: ${text}`);
      usePorts(text);
    } else fail(`unknown option ${arg}`);
  }
  return options;
}

function fail(message) {
  console.error(`campaign: ${message}\n${USAGE}`);
  process.exit(2);
}

function printSummary(campaign) {
  const faults = Object.values(campaign.faults).reduce((sum, count) => sum + count, 0);
  const operations = Object.values(campaign.ops).reduce((sum, count) => sum + count, 0);
  console.log('faults by kind:');
  for (const [kind, count] of Object.entries(campaign.faults).sort()) console.log(`  ${kind}: ${count}`);
  console.log(
    `  (kills that came after the run had ended, not counted: ${campaign.missedKills}; runs that failed on a full filesystem: ${campaign.enospcFailures}; runs without a fault that found it full of kept points: ${campaign.fullWithoutFault}; doctor runs that found it so full they could not finish a merge: ${campaign.doctorFull})`,
  );
  console.log(
    `socket directories left by a kill for the next command's sweep (documented, not violations): ${campaign.socketDirsLeft.length}`,
  );
  const flips = {};
  for (const flip of campaign.flips)
    flips[`${flip.where}, ${flip.outcome}`] = (flips[`${flip.where}, ${flip.outcome}`] ?? 0) + 1;
  for (const [kind, count] of Object.entries(flips).sort()) console.log(`  flips in a ${kind}: ${count}`);
  for (const flip of campaign.flips.filter((f) => f.where === 'manifest' && f.outcome !== 'reported'))
    console.log(
      `    ${flip.file}@${flip.offset}: 0x${flip.was.toString(16)} -> 0x${flip.now.toString(16)} in ${JSON.stringify(flip.context)}`,
    );
  console.log('operations by kind:');
  for (const [kind, count] of Object.entries(campaign.ops).sort()) console.log(`  ${kind}: ${count}`);
  if (Object.keys(campaign.pairs).length > 0) {
    console.log('operations run at once (pair):');
    for (const [kind, count] of Object.entries(campaign.pairs).sort()) console.log(`  ${kind}: ${count}`);
  }
  console.log('violations by kind:');
  const byKind = {};
  for (const violation of campaign.violations) byKind[violation.kind] = (byKind[violation.kind] ?? 0) + 1;
  for (const [kind, count] of Object.entries(byKind).sort()) console.log(`  ${kind}: ${count}`);
  if (campaign.mode.has('copy'))
    console.log(
      `points compared: ${campaign.pointsCompared} restored from the repository, ${campaign.copyPointsCompared} from the copy`,
    );
  if (campaign.mode.has('libvirt'))
    console.log(
      `libvirtd restarts not done (the libvirtd running not one the test support started, or another domain on it): ${campaign.libvirtdRestartsSkipped + (campaign.libvirt?.skippedRestarts ?? 0)}`,
    );
  if (campaign.mode.has('encrypted')) console.log(`keyrings checked (each pool key tried): ${campaign.keyChecks}`);
  for (const line of campaign.modeSummary()) console.log(line);
  console.log(
    `campaign: ${faults} faults, ${operations} operations, ${campaign.pointsCompared + campaign.copyPointsCompared + campaign.modePointsCompared()} points compared, ${campaign.violations.length} violations`,
  );
}

const options = parseArgs(process.argv.slice(2));
// The runs' sockets live under <CAMPAIGN_TMPDIR>/sendense-campaign-XXXXXX/tmp/sendense-transfer-XXXXXX/
// (qemu-nbd-2000-source.sock, the longest): a UNIX socket's path is at most 107 bytes.
if (Buffer.byteLength(tmpParent()) > 27)
  fail(
    `CAMPAIGN_TMPDIR ${tmpParent()} is too long (at most 27 bytes): the runs' UNIX socket paths under it would pass 107 bytes`,
  );
const replayed = options.replay ? JSON.parse(readFileSync(options.replay, 'utf8')) : undefined;
// A saved sequence names its mode (none: plain, from before modes).
const mode = replayed ? parseMode(replayed.mode ?? 'plain') : options.mode;
const campaign = new Campaign({
  mode,
  faultChance: options.faultPercent / 100,
  log: options.quiet ? () => {} : (line) => console.log(line),
});
let interrupted = false;
// Ctrl+C, and as well SIGTERM (a `timeout`, a CI cancel, systemd) and SIGHUP (a closed terminal),
// which would end the process with no summary and the workspace's ext4 image still loop-mounted:
// the runs under way stopped, the figures so far printed, the workspace removed (its image
// unmounted), and the exit code the signal gives, 128 + its number.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    stopRunning();
    console.log(signal === 'SIGINT' ? '(interrupted)' : `(interrupted: ${signal})`);
    printSummary(campaign);
    removeAllWorkspaces();
    killAllServices();
    process.exit(128 + osConstants.signals[signal]);
  });
process.on('exit', () => {
  if (!interrupted) {
    removeAllWorkspaces();
    killAllServices();
  }
});

const started = Date.now();
if (replayed) {
  console.log(`campaign: replaying ${replayed.steps.length} steps of seed ${replayed.seed}, mode ${modeName(mode)}`);
  await campaign.runSequence(replayed.steps, replayed.seed);
} else {
  console.log(`campaign: seed ${options.seed}, ${options.faults} faults, mode ${modeName(mode)}`);
  await campaign.run(
    options.faults,
    options.seed,
    options.minutes === undefined ? Infinity : started + options.minutes * 60_000,
  );
}
await campaign.close();
for (const violation of campaign.violations) {
  console.log(`\nviolation ${violation.kind} (seed ${violation.seed}, mode ${violation.mode}): ${violation.detail}`);
  console.log(`  ${violation.steps.length} steps: ${violation.steps.map(describeStep).join(', ')}`);
  console.log(`  steps as JSON: ${JSON.stringify(violation.steps)}`);
}
console.log(`(${Math.round((Date.now() - started) / 1000)} s)`);
printSummary(campaign);
if (options.shrink && !options.replay) {
  for (const violation of campaign.violations) {
    const short = await shrink(
      violation,
      mode,
      (line) => console.log(line),
      Date.now() + options.shrinkMinutes * 60_000,
    );
    const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'campaign');
    mkdirSync(dir, { recursive: true });
    const name = `seed-${violation.seed}-${violation.mode}-${violation.kind}`;
    writeFileSync(
      join(dir, `${name}.json`),
      `${JSON.stringify({ seed: violation.seed, mode: violation.mode, kind: violation.kind, steps: short }, null, 2)}\n`,
    );
    writeFileSync(join(dir, `${name}.test.ts`), regressionTest(name, violation, short));
    console.log(
      `shrunk to ${short.length} steps: ${short.map(describeStep).join(', ')}; wrote test/campaign/${name}.test.ts`,
    );
  }
}
if (options.shrink && campaign.violations.length > 0) printSummary(campaign);
process.exit(campaign.violations.length > 0 ? 1 : 0);

function regressionTest(name, violation, steps) {
  return `// A campaign seed that once broke an invariant (${violation.kind}), shrunk to ${steps.length} steps:
// ${steps.map(describeStep).join(', ')}.
// ${violation.detail.split('\\n')[0].slice(0, 200)}
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

it('campaign seed ${violation.seed} (${violation.kind}) replays without a violation', () => {
  const [first, last] = portRangeForTestFile(10);
  const args = ['bench/campaign/main.js', '--replay', 'test/campaign/${name}.json', '--ports', \`\${first}-\${last}\`, '--quiet'];
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', timeout: 590_000, killSignal: 'SIGINT' });
  expect(out).toMatch(/, 0 violations$/m);
}, 600_000);
`;
}
