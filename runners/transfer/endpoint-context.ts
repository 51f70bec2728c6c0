// What opening one side of a disk's copy needs (./open-endpoint.ts, ./serve-image.ts).

import type { UndoStack } from '../../src/engine/undo-stack.js';
import type { TransferOutput } from './transfer-output.js';

export interface EndpointContext {
  readonly disk: number;
  readonly role: 'source' | 'target';
  /** An incremental's bitmap: the source is read through it, the target is asked for base:allocation. */
  readonly bitmap?: string;
  readonly connections: number;
  readonly dir: string;
  /** What the disk's copy took, given back when it ends (every entry 'always'). */
  readonly cleanup: UndoStack;
  readonly output: TransferOutput;
}
