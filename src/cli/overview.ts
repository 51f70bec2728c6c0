// What `sendense-run --help` prints: every command's overview lines (./commands.ts), the common
// options and the exit codes.

import { COMMANDS } from './commands.js';

const HELP_LINE: readonly [string, string] = ['help COMMAND', "that command's options (or: COMMAND --help)"];

// A synopsis too long for its column gets the description on the next line.
function overviewLine([synopsis, text]: readonly [string, string]): string {
  return synopsis.length > 30 ? `  ${synopsis}\n${' '.repeat(33)}${text}` : `  ${synopsis.padEnd(30)} ${text}`;
}

export const USAGE = `Usage: sendense-run [options] <command> [args]

Commands:
${[...COMMANDS.flatMap((command) => command.overview), HELP_LINE].map(overviewLine).join('\n')}

Options (before or after the command):
  --db PATH     state database (default $SENDENSE_DB, else /var/lib/sendense/sendense.db
                for root, \${XDG_STATE_HOME:-~/.local/state}/sendense/sendense.db for others)
  --hub-config PATH
                the hub's limits: maxParallelDisks, memory, nbd.ports
                (default /etc/sendense/hub.yaml if it exists)
  --json        one JSON object per line instead of the human view
  --quiet       only errors and the final summary
  --help, --version

Exit codes: 0 success, 1 a run failed, 2 invalid plan or usage, 130 interrupted.
`;

// --help --json: the same overview as one object (docs/json-events.md#help---json).
export function overviewJson(): Record<string, unknown> {
  const commands = [
    ...COMMANDS.flatMap((command) => command.overview.map((line) => [command.name, line] as const)),
    ['help', HELP_LINE] as const,
  ];
  return {
    type: 'help',
    usage: 'sendense-run [options] <command> [args]',
    commands: commands.map(([name, [synopsis, does]]) => ({ name, synopsis, does })),
  };
}
