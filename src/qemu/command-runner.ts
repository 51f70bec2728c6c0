// Where qemu-img runs: this host by default, or a node (pass NodeHost.exec) so the same code
// works over SSH. Argv only, never a shell.

import { execa } from 'execa';
import type { ExecResult } from '../node/node.js';

export type CommandRunner = (argv: readonly string[]) => Promise<ExecResult>;

export const runLocal: CommandRunner = async (argv) => {
  const [file, ...args] = argv;
  const result = await execa(file, args, { reject: false, stdin: 'ignore', stripFinalNewline: false });
  if (result.failed && result.exitCode === undefined) {
    // Could not start at all (e.g. ENOENT): report like a shell would.
    return { exitCode: 127, stdout: '', stderr: `${file}: ${result.shortMessage}` };
  }
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
};
