// What `sendense-run help CMD` and `CMD --help` print: the command's usage and its own options
// (declared in its file, src/cli/NAME-command.ts) and the common ones; also the names an unknown
// option is compared with, to suggest the nearest.

import type { CommandSpec } from './command.js';
import { COMMON_OPTIONS, type OptionSpec } from './command-options.js';

export { COMMON_OPTIONS };

export function commandHelp(command: Pick<CommandSpec, 'usage' | 'does' | 'options'>): string {
  const option = (o: OptionSpec) => `  ${`${o.name}${o.value ? ` ${o.value}` : ''}`.padEnd(20)} ${o.help}`;
  const own = command.options.length > 0 ? `\nOptions:\n${command.options.map(option).join('\n')}\n` : '';
  return `Usage: ${command.usage}\n\n${command.does}\n${own}\nCommon options (before or after the command):\n${COMMON_OPTIONS.map(option).join('\n')}\n\nSee sendense-run --help for all commands.\n`;
}

// help COMMAND --json: the same declarations as one object (docs/json-events.md#help---json).
export function commandHelpJson(
  name: string,
  command: Pick<CommandSpec, 'usage' | 'does' | 'options' | 'exitCodes'>,
): Record<string, unknown> {
  const { usage, does, exitCodes } = command;
  const options = command.options.map(helpJson);
  return { type: 'help', command: name, usage, does, options, commonOptions: COMMON_OPTIONS, exitCodes };
}

// An option in `help --json`: its name, value and help (how it parses is the parser's business).
function helpJson({ name, value, help }: OptionSpec): Record<string, unknown> {
  return { name, value, help };
}

// The options `command` accepts: its own and the common ones.
export function optionNames(command: Pick<CommandSpec, 'options'>): string[] {
  return [...command.options, ...COMMON_OPTIONS].map((option) => option.name);
}
