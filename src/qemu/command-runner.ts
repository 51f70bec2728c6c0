// Where qemu-img runs: this host by default, or a node (pass NodeHost.exec) so the same code
// works over SSH. Argv only, never a shell. An encrypted image's secret goes on fd 3 (image-secret.ts).

import { execa } from 'execa';
import type { ExecResult } from '../node/node.js';
import type { ImageSecret } from './image-secret.js';
import { secretStdio, withSecretFd } from './secret-fd.js';

export interface RunOptions {
  readonly secret?: ImageSecret;
}

export type CommandRunner = (argv: readonly string[], options?: RunOptions) => Promise<ExecResult>;

export const runLocal: CommandRunner = async (argv, options = {}) => {
  const [file, ...args] = argv;
  const result = await withSecretFd(options.secret, (fd) => execa(file, args, { reject: false, stdio: ['ignore', 'pipe', 'pipe', ...secretStdio(fd)], stripFinalNewline: false }));
  if (result.failed && result.exitCode === undefined) {
    // Could not start at all (e.g. ENOENT): report like a shell would.
    return { exitCode: 127, stdout: '', stderr: `${file}: ${result.shortMessage}` };
  }
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
};
