// The exit codes of each command, as docs/commands.md lists them (scripts/gen-docs.js); every
// command also exits 2 on a usage error and 1 on an internal error (a bug, printed with its stack).

export interface ExitCode {
  readonly code: 0 | 1 | 2 | 130;
  readonly when: string;
}

const USAGE: ExitCode = { code: 2, when: 'usage error: an unknown option or a missing argument (the message names the nearest valid option)' };

export const COMMAND_EXIT_CODES: Readonly<Record<string, readonly ExitCode[]>> = {
  run: [
    { code: 0, when: 'the run succeeded (or, with --dry-run, the plan is valid and its steps were printed)' },
    { code: 1, when: 'the run failed (its error is in history); everything it took was given back' },
    { code: 2, when: 'invalid plan (file:line:col: message) or usage error; nothing was run' },
    { code: 130, when: 'interrupted by SIGINT, SIGTERM or SIGHUP, after cleanup' },
  ],
  validate: [
    { code: 0, when: 'every plan is valid (warnings do not count)' },
    { code: 2, when: 'at least one plan is invalid, a FILE or DIR does not exist, or a usage error' },
  ],
  schedule: [
    { code: 0, when: 'stopped cleanly by SIGINT or SIGTERM (running runs cancelled and cleaned up)' },
    { code: 1, when: 'the scheduler itself failed, e.g. the state database cannot be opened' },
    { code: 2, when: 'nothing to schedule (no valid plan with a schedule) or a usage error' },
  ],
  backups: [
    { code: 0, when: 'listed (also when there is no state database yet: it says so)' },
    USAGE,
  ],
  history: [
    { code: 0, when: 'listed (also when there is no state database yet: it says so)' },
    USAGE,
  ],
  prune: [
    { code: 0, when: 'the unkept points were merged away (or, with --dry-run, what would happen to each point was printed)' },
    {
      code: 1,
      when:
        "a merge failed or the VM is busy (another run holds it, or an unfinished merge waits for doctor); a point's file open in another process (nothing was changed: try again when it is closed); or the state database lost (doctor finishes or rolls back the merge under way once it is back); every kept point is unchanged",
    },
    { code: 2, when: 'invalid plan, a plan without keep-* rules, or a usage error; nothing was changed' },
    { code: 130, when: 'interrupted by SIGINT, SIGTERM or SIGHUP: stopped after the merge under way' },
  ],
  doctor: [
    { code: 0, when: 'nothing was left behind, or everything found was cleaned' },
    { code: 1, when: 'something could not be cleaned; with --dry-run: something was found (for monitoring)' },
    USAGE,
  ],
  verify: [
    { code: 0, when: 'no damage found, damage marks cleared where the files match again (backups taken before manifests existed, and those of a VM with a merge under way or unfinished, are listed as not verified)' },
    { code: 1, when: 'damage found (those backups and every backup built on them are now damaged, or still are), or the --vm/--backup asked for has a merge under way or unfinished' },
    { code: 2, when: 'no such --backup, or a usage error' },
  ],
  catalog: [
    { code: 0, when: 'the repository was read; backups imported, already known or skipped (and manifests refused) are listed' },
    { code: 1, when: 'the state database could not be written' },
    { code: 2, when: 'REPOSITORY is not a directory, or a usage error' },
  ],
  files: [
    { code: 0, when: 'listed or extracted' },
    { code: 1, when: 'the point, disk or path could not be read, or the target could not be written' },
    { code: 2, when: 'bad NAME:/PATH, --point, --disk or --to, or a usage error' },
    { code: 130, when: 'interrupted: the appliance was stopped and nothing was left in the target' },
  ],
  mount: [
    { code: 0, when: 'mounted, then unmounted after Ctrl+C or SIGTERM' },
    { code: 1, when: 'the point could not be opened or mounted' },
    { code: 2, when: 'bad --point, --disk or DIR, or a usage error' },
    { code: 130, when: 'interrupted before the mount was ready' },
  ],
  schema: [{ code: 0, when: 'printed' }, USAGE],
};
