// Where qemu-img runs: this host by default, or a node (pass NodeHost.exec) so the same code
// works over SSH. Argv only, never a shell. An encrypted image's secret goes on fd 3 (image-secret.ts).

import { execLocal } from '../node/local.js';
import type { ExecResult } from '../node/node.js';
import type { ImageSecret } from './image-secret.js';

export interface RunOptions {
  readonly secret?: ImageSecret;
}

export type CommandRunner = (argv: readonly string[], options?: RunOptions) => Promise<ExecResult>;

// As the local node runs it: in a session of its own, so a terminal's Ctrl+C is the command's
// caller's to act on, not a kill of a qemu-img under way (docs/how-it-works.md#safety-rules).
export const runLocal: CommandRunner = (argv, options = {}) => execLocal(argv, { secret: options.secret });
