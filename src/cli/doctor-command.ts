// `sendense-run doctor [--dry-run]`: find what killed runs left behind and give it back, one
// sweeper per kind of thing (src/doctor/index.ts); this file only parses, runs them and prints.

import { runDoctor, type Finding } from '../doctor/index.js';
import { defineCommand, type CommandSpec, USAGE_ERROR } from './command.js';
import { declareOptions, rejectOperands, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, shapedLines, type JsonOutput } from '../output/json-output.js';
import { KEY_OPTIONS, keyOption } from './key-option.js';
import { withExistingStore } from './open-existing-store.js';

const OPTIONS = declareOptions([
  { name: '--dry-run', help: 'only say what would be cleaned (exit 1 if anything, for monitoring)' },
  {
    name: '--remove-orphaned-checkpoints',
    help: "delete sendense-run's libvirt checkpoints no chain continues from (without it they are only reported; with --dry-run: said, exit 1)",
  },
  ...KEY_OPTIONS,
]);

interface DoctorNote {
  readonly type: 'note';
  readonly message: string;
}

const JSON_OUTPUT: JsonOutput = {
  intro: 'One object per finding, then a note per run still going, left alone.',
  lines: shapedLines<{ finding: Finding; note: DoctorNote }>({
    finding: {
      when: 'something a run left',
      fields: {
        what: '',
        action: 'what was done, or `would …` with `--dry-run`',
        ok: 'false when it could not be cleaned',
      },
      note: 'An orphaned libvirt checkpoint without `--remove-orphaned-checkpoints` is a finding whose `action` says it was left and how to delete it (`ok` true).',
    },
    note: { when: 'after the findings', fields: { type: '`note`', message: '' } },
  }),
};

export const doctorCommand: CommandSpec = defineCommand({
  name: 'doctor',
  usage: 'sendense-run doctor [--dry-run] [--remove-orphaned-checkpoints] [--key-file FILE|--key-env NAME]',
  does: "Find what crashed runs left behind (processes, leases, locks, half-written files, orphan bitmaps,\ninterrupted retention merges, mounts, files sessions (stopped even when running: only a warm appliance), browse folders, and on nodes: libvirt backup jobs, half-made checkpoints, scratch directories,\nfrozen guests, half-done recoveries, a restore's new domain and its files) and clean it: an interrupted merge is finished, or rolled back before it changed a file;\nwhat listings show of a backup file (space, header, backing file) is recorded again where the file says otherwise now;\na recovered domain is never stopped: its move is finished first (or its serving left up while it runs from the point). An interrupted merge\nin an encrypted repository needs its key (--key-file or --key-env) to be finished; without one it is left as it is, and said.\nOrphaned libvirt checkpoints (sendense-run's, on domains runs took checkpoints on, that no chain continues from) are\nreported, and deleted only with --remove-orphaned-checkpoints; another tool's checkpoints are never touched.\nA failback killed half-way is reported with what to do (running failback again finishes it); no domain is\nstopped or started for it. A restore's new domain that has run since its run was killed is the user's: kept, with its files.\nExit 1 when something could not be cleaned; with --dry-run, exit 1 when anything was found.",
  options: OPTIONS,
  exitCodes: [
    { code: 0, when: 'nothing was left behind, or everything found was cleaned' },
    {
      code: 1,
      when: 'something could not be cleaned (an interrupted merge in an encrypted repository without a key that opens it is left for later); with --dry-run: something was found (for monitoring)',
    },
    USAGE_ERROR,
  ],
  json: JSON_OUTPUT,
  run: doctor,
});

async function doctor(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  keyOption(given);
  rejectOperands(given.operands, 'doctor');
  const dryRun = given.flag('--dry-run');
  return withExistingStore(cli, async (store) => {
    const consent = { removeOrphanedCheckpoints: given.flag('--remove-orphaned-checkpoints') };
    const { findings, notes } = await runDoctor(store, cli.dbPath, dryRun, undefined, consent);
    report(cli, findings, notes, dryRun);
    // --dry-run is for monitoring: anything to clean is exit 1 (a live run, a note, is not).
    if (dryRun) return findings.some((finding) => finding.action.startsWith('would ') || !finding.ok) ? 1 : 0;
    return findings.every((finding) => finding.ok) ? 0 : 1;
  });
}

function report(cli: CliContext, findings: readonly Finding[], notes: readonly string[], dryRun: boolean): void {
  if (cli.json) {
    for (const finding of findings) printJson<Finding>(cli, finding);
    for (const note of notes) printJson<DoctorNote>(cli, { type: 'note', message: note });
    return;
  }
  for (const note of notes) cli.stdout.write(`  ${note}\n`);
  if (findings.length === 0) {
    cli.stdout.write('doctor: nothing left behind\n');
    return;
  }
  for (const finding of findings) cli.stdout.write(`${finding.ok ? '-' : '!'} ${finding.what}: ${finding.action}\n`);
  const fixed = findings.filter((f) => f.ok).length;
  cli.stdout.write(
    `doctor: ${findings.length} finding(s)${dryRun ? ' (dry run: nothing changed)' : `, ${fixed} cleaned`}\n`,
  );
}
