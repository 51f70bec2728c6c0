// Each command is declared once (src/cli/NAME-command.ts) and listed once (src/cli/commands.ts),
// each of its options once in its declaration.

import { describe, expect, it } from 'vitest';
import { COMMON_OPTIONS } from '../../src/cli/command-options.js';
import { COMMANDS, loadAllCommands } from '../../src/cli/commands.js';

describe('commands', () => {
  it('each entry of the list loads the declaration of that name, with its exit codes', async () => {
    const specs = await loadAllCommands();
    expect(specs.map((spec) => spec.name)).toEqual(COMMANDS.map((entry) => entry.name));
    for (const spec of specs)
      expect(
        spec.exitCodes.map((exit) => exit.code),
        spec.name,
      ).toContain(0);
  });

  it('each declares an option once, and says in its help which may be given more than once', async () => {
    for (const spec of await loadAllCommands()) {
      const names = [...spec.options, ...COMMON_OPTIONS].map((option) => option.name);
      expect(
        names.filter((name, i) => names.indexOf(name) !== i),
        spec.name,
      ).toEqual([]);
      for (const option of spec.options)
        expect(/\(repeatable/.test(option.help), `${spec.name} ${option.name}`).toBe(
          option.repeatable === true || option.list === true,
        );
    }
  });
});
