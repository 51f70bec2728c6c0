// What `sendense-run help CMD` and `CMD --help` print: the command's usage and its own options
// (declared in its file, src/cli/NAME-command.ts) and the common ones; also the names an unknown
// option is compared with, to suggest the nearest.

import type { CommandSpec, OptionHelp } from './command.js';

export const COMMON_OPTIONS: readonly OptionHelp[] = [
  {
    name: '--db',
    value: 'PATH|URL',
    help: 'state database: a SQLite file (a directory is a usage error, exit 2), or postgres://USER@HOST:PORT/DB for several hubs (password from PGPASSWORD, ~/.pgpass or $SENDENSE_DB_PASSWORD_FILE, never in the URL); default $SENDENSE_DB, else /var/lib/sendense/sendense.db for root, ${XDG_STATE_HOME:-~/.local/state}/sendense/sendense.db for others',
  },
  {
    name: '--hub-config',
    value: 'PATH',
    help: 'hub limits for runs and schedule: maxParallelDisks, memory, nbd.ports (runs beyond them wait in a queue), rate and windows (docs/bandwidth.md) (default /etc/sendense/hub.yaml when it exists; README "Hub limits")',
  },
  { name: '--json', help: 'one JSON object per line instead of the human view (docs/json-events.md)' },
  { name: '--quiet', help: 'only errors and the final summary' },
  { name: '--help', help: 'this help' },
];

export function commandHelp(command: Pick<CommandSpec, 'usage' | 'does' | 'options'>): string {
  const option = (o: OptionHelp) => `  ${`${o.name}${o.value ? ` ${o.value}` : ''}`.padEnd(20)} ${o.help}`;
  const own = command.options.length > 0 ? `\nOptions:\n${command.options.map(option).join('\n')}\n` : '';
  return `Usage: ${command.usage}\n\n${command.does}\n${own}\nCommon options (before or after the command):\n${COMMON_OPTIONS.map(option).join('\n')}\n\nSee sendense-run --help for all commands.\n`;
}

// help COMMAND --json: the same declarations as one object (docs/json-events.md#help---json).
export function commandHelpJson(
  name: string,
  command: Pick<CommandSpec, 'usage' | 'does' | 'options' | 'exitCodes'>,
): Record<string, unknown> {
  const { usage, does, options, exitCodes } = command;
  return { type: 'help', command: name, usage, does, options, commonOptions: COMMON_OPTIONS, exitCodes };
}

// The options `command` accepts: its own and the common ones.
export function optionNames(command: Pick<CommandSpec, 'options'>): string[] {
  return [...command.options, ...COMMON_OPTIONS].map((option) => option.name);
}
