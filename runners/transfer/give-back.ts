// Registers what a disk's copy took with its cleanup, to be given back whatever happened.

import type { UndoStack } from '../../src/engine/undo-stack.js';

// Registered the moment it is taken; the copy's end gives it back whatever happened.
export function giveBack(
  context: { readonly cleanup: UndoStack },
  what: string,
  undo: () => Promise<void> | void,
): void {
  context.cleanup.push({ what, when: 'always', step: 'transfer', run: async () => undo() });
}
