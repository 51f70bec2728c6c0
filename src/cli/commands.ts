// Every command, in the order `sendense-run --help` and docs/commands.md list them: its name, its
// lines in the overview, and its file (src/cli/NAME-command.ts: usage, options, exit codes, run).
// Loaded lazily so `validate` does not pay for SQLite, ssh2 or listr2 (scripts/bundle-cli.js).

import type { CommandSpec } from './command.js';

export interface CommandEntry {
  readonly name: string;
  /** Its lines in the overview: [synopsis, what it does]. */
  readonly overview: readonly (readonly [string, string])[];
  load(): Promise<CommandSpec>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'run',
    overview: [
      ['PLAN.yaml [--dry-run]', 'run a plan now (same as: run PLAN.yaml)'],
      ['run PLAN.yaml [--dry-run] [--metrics-file PATH]', 'run a plan now; --dry-run prints the resolved steps only'],
    ],
    load: async () => (await import('./run-command.js')).runCommand,
  },
  {
    name: 'validate',
    overview: [
      [
        'validate FILE|DIR... [--format text|json|jsonl|github]',
        'check plans (schema + semantics), errors as file:line:col',
      ],
    ],
    load: async () => (await import('./validate-command.js')).validateCommand,
  },
  {
    name: 'schedule',
    overview: [['schedule FILE|DIR...', 'run plans with a schedule at their times, in the foreground']],
    load: async () => (await import('./schedule-command.js')).scheduleCommand,
  },
  {
    name: 'status',
    overview: [
      [
        'status [FILE|DIR...]',
        "each plan's next run, last run, newest point, chain and space; exit 1 if a last run failed",
      ],
    ],
    load: async () => (await import('./status-command.js')).statusCommand,
  },
  {
    name: 'backups',
    overview: [['backups [--vm NAME] [--verbose]', 'list backups and chains, with their space on disk']],
    load: async () => (await import('./backups-command.js')).backupsCommand,
  },
  {
    name: 'history',
    overview: [['history [--plan NAME] [--limit N]', 'list past runs']],
    load: async () => (await import('./history-command.js')).historyCommand,
  },
  {
    name: 'ack',
    overview: [['ack RUN', 'acknowledge a failed run: status and the console no longer count it as open']],
    load: async () => (await import('./ack-command.js')).ackCommand,
  },
  {
    name: 'doctor',
    overview: [['doctor [--dry-run]', 'find and clean what crashed runs left behind']],
    load: async () => (await import('./doctor-command.js')).doctorCommand,
  },
  {
    name: 'restore',
    overview: [
      [
        'restore VM [--point P] [--disk KEY]... --target file:PATH|dir:DIR|nbd:URL [--overwrite] [--no-verify]',
        "write a point's disks back out now, without a plan file (checked, verified, in history)",
      ],
    ],
    load: async () => (await import('./restore-command.js')).restoreCommand,
  },
  {
    name: 'verify',
    overview: [['verify [--vm NAME] [--backup ID]', "check stored backups against their manifests' digests"]],
    load: async () => (await import('./verify-command.js')).verifyCommand,
  },
  {
    name: 'prune',
    overview: [['prune PLAN.yaml [--dry-run]', "apply the plan's keep-* retention now: unkept points merged away"]],
    load: async () => (await import('./prune-command.js')).pruneCommand,
  },
  {
    name: 'forget',
    overview: [
      [
        'forget VM --point ID|--chain ID|--damaged [--dry-run]',
        'remove points now: merged into the next point, or removed with their files',
      ],
    ],
    load: async () => (await import('./forget-command.js')).forgetCommand,
  },
  {
    name: 'checkpoints',
    overview: [
      [
        'checkpoints DOMAIN [--uri URI] [--node [USER@]HOST[:PORT]]',
        "a libvirt domain's checkpoints and who owns each: a plan, orphaned, another tool",
      ],
    ],
    load: async () => (await import('./checkpoints-command.js')).checkpointsCommand,
  },
  {
    name: 'retire',
    overview: [
      ['retire PLAN.yaml [--dry-run]', "delete a libvirt plan's checkpoints, keep its points; its next run is a full"],
    ],
    load: async () => (await import('./retire-command.js')).retireCommand,
  },
  {
    name: 'protect',
    overview: [['protect VM --point ID', 'keep a point: retention and forget never merge or remove it']],
    load: async () => (await import('./protect-command.js')).protectCommand,
  },
  {
    name: 'unprotect',
    overview: [['unprotect VM --point ID', 'give a protected point back to retention and forget']],
    load: async () => (await import('./protect-command.js')).unprotectCommand,
  },
  {
    name: 'clear',
    overview: [['clear VM --point ID', 'clear a suspect point: the clean points it kept go back to retention']],
    load: async () => (await import('./clear-command.js')).clearCommand,
  },
  {
    name: 'catalog',
    overview: [['catalog import REPOSITORY', "rebuild the database's backups from a repository's manifests"]],
    load: async () => (await import('./catalog-command.js')).catalogCommand,
  },
  {
    name: 'fetch',
    overview: [
      [
        'fetch COPY-PLAN.yaml DIR [--vm NAME [--point ID|latest]] [--lazy]',
        "bring an s3 copy's objects back into DIR, a repository (--lazy: read from the bucket as read)",
      ],
    ],
    load: async () => (await import('./fetch-command.js')).fetchCommand,
  },
  {
    name: 'key',
    overview: [
      [
        'key add|remove|list REPOSITORY --key-file FILE ...',
        'add, remove or list the keys of an encrypted repository (its keyring only)',
      ],
    ],
    load: async () => (await import('./key-command.js')).keyCommand,
  },
  {
    name: 'files',
    overview: [
      [
        'files VM [--point P] [--disk KEY] [NAME:/PATH] [--get NAME:/PATH... --to DIR|FILE.tar[.gz]|FILE.zip]',
        "list a backed-up disk's filesystems or a directory, or extract files (appliance kept warm)",
      ],
      ['files --sessions | --stop-sessions [VM]', "list or end this host's warm files sessions"],
    ],
    load: async () => (await import('./files-command.js')).filesCommand,
  },
  {
    name: 'mount',
    overview: [['mount VM [--point P] [--disk KEY] DIR', "read-only mount of a point's filesystems until Ctrl+C"]],
    load: async () => (await import('./mount-command.js')).mountCommand,
  },
  {
    name: 'serve',
    overview: [
      [
        'serve VM [--point P] [--disk KEY]... [--writable] [--tcp] [--node [USER@]HOST[:PORT]]',
        'export a point over NBD on private Unix sockets (read-only, or writable over overlays) until Ctrl+C',
      ],
    ],
    load: async () => (await import('./serve-command.js')).serveCommand,
  },
  {
    name: 'replicas',
    overview: [
      ['replicas [--plan NAME]', "list replicate plans' points on their replica nodes, their lag, failovers"],
      ['replicas --verify PLAN.yaml', "check a replicate plan's points on its replica node against their digests"],
    ],
    load: async () => (await import('./replicas-command.js')).replicasCommand,
  },
  {
    name: 'failover',
    overview: [
      [
        'failover PLAN.yaml [--point ID] [--test] [--force]',
        "start a replicate plan's replica domain from a point (--test: a throwaway boot, no network)",
      ],
    ],
    load: async () => (await import('./failover-command.js')).failoverCommand,
  },
  {
    name: 'failback',
    overview: [
      [
        'failback PLAN.yaml [--wait SECONDS]',
        'after a failover: copy the standby back onto the original, start it, resume the syncs',
      ],
    ],
    load: async () => (await import('./failback-command.js')).failbackCommand,
  },
  {
    name: 'api',
    overview: [
      [
        'api [FILE|DIR...] [--listen HOST:PORT] [--plain-http] [--schedule]',
        'serve the hub as an HTTPS API (and its console) for these plans, in the foreground',
      ],
      ['api fingerprint', "the SHA-256 fingerprint of the API's certificate"],
    ],
    load: async () => (await import('./api-command.js')).apiCommand,
  },
  {
    name: 'token',
    overview: [
      [
        'token add NAME --role ROLE [--expires 90d] | list | remove NAME',
        "the API's tokens (add prints the secret once, on its last line)",
      ],
    ],
    load: async () => (await import('./token-command.js')).tokenCommand,
  },
  {
    name: 'audit',
    overview: [['audit [--limit N] [--token NAME]', 'every action taken through the API: who, what, when, outcome']],
    load: async () => (await import('./audit-command.js')).auditCommand,
  },
  {
    name: 'schema',
    overview: [['schema [--path]', 'the plan JSON Schema (--path: where it is installed)']],
    load: async () => (await import('./schema-command.js')).schemaCommand,
  },
];

export function findCommand(name: string): CommandEntry | undefined {
  return COMMANDS.find((command) => command.name === name);
}

// Every command's declaration, for docs/commands.md (scripts/gen-docs.js) and tests.
export async function loadAllCommands(): Promise<CommandSpec[]> {
  return Promise.all(COMMANDS.map((command) => command.load()));
}
