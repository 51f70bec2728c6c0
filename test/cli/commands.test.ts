// Each command is declared once (src/cli/NAME-command.ts) and listed once (src/cli/commands.ts);
// what the CLI knows of them before loading one is kept in step with the declarations.

import { describe, expect, it } from 'vitest';
import { COMMAND_VALUE_OPTIONS } from '../../src/cli/args.js';
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

  it("the options that take a value, known before the command is found, are exactly the declarations' ones", async () => {
    const declared = new Set(
      (await loadAllCommands()).flatMap((spec) =>
        spec.options.filter((option) => option.value !== undefined).map((option) => option.name),
      ),
    );
    // files --get takes a list, every argument up to the next option (files-command.ts, splitGets).
    declared.delete('--get');
    expect([...COMMAND_VALUE_OPTIONS].sort()).toEqual([...declared].sort());
  });
});
