// What `sendense-run help CMD` and `CMD --help` print: each command's usage and its own options
// (also the names an unknown option is compared with, to suggest the nearest).

export interface OptionHelp {
  readonly name: string;
  /** Placeholder of the option's value, e.g. NAME; absent for a flag. */
  readonly value?: string;
  readonly help: string;
}

export interface CommandHelp {
  readonly usage: string;
  readonly does: string;
  readonly options: readonly OptionHelp[];
}

export const COMMON_OPTIONS: readonly OptionHelp[] = [
  { name: '--db', value: 'PATH|URL', help: 'state database: a SQLite file, or postgres://USER@HOST:PORT/DB for several hubs (password from PGPASSWORD, ~/.pgpass or $SENDENSE_DB_PASSWORD_FILE, never in the URL); default $SENDENSE_DB, else /var/lib/sendense/sendense.db for root, ${XDG_STATE_HOME:-~/.local/state}/sendense/sendense.db for others' },
  { name: '--hub-config', value: 'PATH', help: 'hub limits for runs and schedule: maxParallelDisks, memory, nbd.ports; runs beyond them wait in a queue (default /etc/sendense/hub.yaml when it exists; README "Hub limits")' },
  { name: '--json', help: 'one JSON object per line instead of the human view (docs/json-events.md)' },
  { name: '--quiet', help: 'only errors and the final summary' },
  { name: '--help', help: 'this help' },
];

export const COMMAND_HELP: Readonly<Record<string, CommandHelp>> = {
  run: {
    usage: 'sendense-run [run] PLAN.yaml [--dry-run] [--metrics-file PATH]',
    does: 'Validate the plan, then run it now: each step (--dry-run lists them), cleanup on every exit path.\nExit 0 success, 1 the run failed, 2 invalid plan or usage, 130 interrupted (after cleanup).',
    options: [
      { name: '--dry-run', help: 'validate and print the resolved steps (parent, ports, files) without changing anything' },
      { name: '--metrics-file', value: 'PATH', help: "after the run, write Prometheus textfile metrics there (node_exporter's textfile collector); default: the plan's metricsFile" },
    ],
  },
  validate: {
    usage: 'sendense-run validate FILE|DIR... [--format text|json|jsonl|github]',
    does: 'Schema and semantic checks of every plan (a DIR: its *.yaml files). Exit 0 when all are valid, else 2.',
    options: [{ name: '--format', value: 'FORMAT', help: 'text (file:line:col: message, default), json (one document), jsonl (= --json), github (GitHub Actions annotations)' }],
  },
  schedule: {
    usage: 'sendense-run schedule FILE|DIR...',
    does: 'Stay in the foreground and run each plan that has a schedule at its times; never two runs of one\nplan at once. SIGHUP re-reads the plans; SIGINT/SIGTERM stop cleanly.',
    options: [],
  },
  backups: {
    usage: 'sendense-run backups [--vm NAME] [--verbose]',
    does: 'Backups by VM and chain, one line per point, with the space they take on disk.',
    options: [
      { name: '--vm', value: 'NAME', help: 'only this VM' },
      { name: '--verbose', help: "each disk's file, size and change_id too" },
    ],
  },
  history: {
    usage: 'sendense-run history [--plan NAME] [--limit N]',
    does: 'Past runs, newest first: start time, plan, kind taken, trigger, status, duration, bytes, errors.',
    options: [
      { name: '--plan', value: 'NAME', help: 'only this plan' },
      { name: '--limit', value: 'N', help: 'at most N runs (default 50)' },
    ],
  },
  doctor: {
    usage: 'sendense-run doctor [--dry-run]',
    does: 'Find what crashed runs left behind (processes, leases, locks, half-written files, orphan bitmaps,\ninterrupted retention merges, mounts) and clean it: an interrupted merge is finished, or rolled back before it changed a file. Exit 1 when something could not be cleaned; with --dry-run, exit 1 when anything was found.',
    options: [{ name: '--dry-run', help: 'only say what would be cleaned (exit 1 if anything, for monitoring)' }],
  },
  verify: {
    usage: 'sendense-run verify [--vm NAME] [--backup ID]',
    does: "Check stored backups against the digests recorded when they were taken: each file's own layer, its\nqcow2 metadata, every digest, its manifest and the backing file its header names. A difference names\nbackup, disk and guest offset and marks that backup and every backup built on it damaged; a damaged\nbackup whose files match again is cleared. A VM with a merge under way or unfinished is left for later.\nExit 1 when damage is found.",
    options: [
      { name: '--vm', value: 'NAME', help: 'only this VM' },
      { name: '--backup', value: 'ID', help: 'only this backup' },
    ],
  },
  prune: {
    usage: 'sendense-run prune PLAN.yaml [--dry-run]',
    does:
      "Apply the plan's retention.keep* rules now (as after each run): every point no rule keeps is merged into\nthe next point of its chain (an unkept full: the next point becomes the full), never broken out of it;\nkept points keep their content, manifests follow. Holds the VM's lock; doctor finishes an interrupted merge.",
    options: [{ name: '--dry-run', help: 'list every point with the rules that keep it, or the point it would be merged into; change nothing' }],
  },
  catalog: {
    usage: 'sendense-run catalog import REPOSITORY',
    does: "Rebuild the database's backups from the manifests in REPOSITORY (a lost database, a repository moved\nto another hub). Backups the database already knows are left as they are. A manifest that is malformed\nor not where it says it belongs (<vm>/disk-<key>/<backup-id>.json) is refused, and with it its backup.",
    options: [],
  },
  files: {
    usage: 'sendense-run files VM [--point P] [--disk KEY] [NAME:/PATH] [--get NAME:/PATH... --to DIR|FILE.tar|FILE.tar.gz|FILE.zip [--overwrite] [--keep-setuid]]',
    does: "List a backed-up disk's partitions and filesystems (p1, vg0/root, disk), list a directory of one\n(NAME:/PATH), or extract files and folders (--get ... --to), read-only through a libguestfs appliance.\nDevice nodes and FIFOs are never extracted (one line each says so); sparse files stay sparse.",
    options: [
      { name: '--point', value: 'P', help: 'latest (default), a backup id, or an ISO-8601 time (the newest backup at or before it)' },
      { name: '--disk', value: 'KEY', help: "the disk key (default: the backup's first disk)" },
      { name: '--get', value: 'NAME:/PATH', help: 'a file or folder to extract (repeatable)' },
      { name: '--to', value: 'TARGET', help: 'where extracted files go: a directory, FILE.tar, FILE.tar.gz or FILE.zip (never inside a repository)' },
      { name: '--overwrite', help: 'replace an existing archive, or same-named entries in a non-empty directory' },
      { name: '--keep-setuid', help: 'keep the setuid/setgid bits of extracted files and folders, in a directory or an archive (default: cleared, so a guest\'s setuid-root program is no such program here)' },
    ],
  },
  mount: {
    usage: 'sendense-run mount VM [--point P] [--disk KEY] DIR',
    does: "Mount a point's filesystems read-only under DIR (DIR/p1, DIR/vg0/root, ...) until Ctrl+C or SIGTERM;\nalways unmounted on exit, and doctor unmounts what a killed mount left.",
    options: [
      { name: '--point', value: 'P', help: 'latest (default), a backup id, or an ISO-8601 time' },
      { name: '--disk', value: 'KEY', help: "the disk key (default: the backup's first disk)" },
    ],
  },
  schema: {
    usage: 'sendense-run schema [--path]',
    does: 'Print the JSON Schema plans are checked against (format version 1), or with --path its absolute\npath in this installation, e.g. for `# yaml-language-server: $schema=PATH` at the top of a plan.',
    options: [{ name: '--path', help: 'print where the schema file is instead of its content' }],
  },
};

export function commandHelp(help: CommandHelp): string {
  const option = (o: OptionHelp) => `  ${`${o.name}${o.value ? ` ${o.value}` : ''}`.padEnd(20)} ${o.help}`;
  const own = help.options.length > 0 ? `\nOptions:\n${help.options.map(option).join('\n')}\n` : '';
  return `Usage: ${help.usage}\n\n${help.does}\n${own}\nCommon options (before or after the command):\n${COMMON_OPTIONS.map(option).join('\n')}\n\nSee sendense-run --help for all commands.\n`;
}

// The options `command` accepts: its own and the common ones.
export function optionNames(command: string): string[] {
  return [...(COMMAND_HELP[command]?.options ?? []), ...COMMON_OPTIONS].map((option) => option.name);
}
