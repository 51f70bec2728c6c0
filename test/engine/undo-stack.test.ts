// The undo stack's rules, which cleanup relies on: newest first, 'always' always, 'failure' only
// when the run did not commit, 'success' only when it did, and one failing entry never stops the rest.

import { describe, expect, it } from 'vitest';
import { UndoStack, type UndoWhen } from '../../src/engine/undo-stack.js';

function stackOf(entries: readonly [string, UndoWhen, boolean?][], ran: string[]): UndoStack {
  const stack = new UndoStack();
  for (const [what, when, fails] of entries) {
    stack.push({
      what,
      when,
      step: 'test',
      run: async () => {
        ran.push(what);
        if (fails) throw new Error(`${what} broke`);
      },
    });
  }
  return stack;
}

const ENTRIES: readonly [string, UndoWhen][] = [
  ['release port', 'always'],
  ['delete new file', 'failure'],
  ['remove superseded bitmap', 'success'],
  ['stop qemu-nbd', 'always'],
];

describe('UndoStack', () => {
  it('a failed run gives back always and failure entries, newest first, and keeps success ones', async () => {
    const ran: string[] = [];
    await stackOf(ENTRIES, ran).unwind();
    expect(ran).toEqual(['stop qemu-nbd', 'delete new file', 'release port']);
  });

  it('a committed run gives back always and success entries, and never the failure ones', async () => {
    const ran: string[] = [];
    const stack = stackOf(ENTRIES, ran);
    stack.commit();
    await stack.unwind();
    expect(ran).toEqual(['stop qemu-nbd', 'remove superseded bitmap', 'release port']);
  });

  it('one entry failing does not stop the others, and its error is reported', async () => {
    const ran: string[] = [];
    const outcomes = await stackOf(
      [
        ['a', 'always'],
        ['b', 'always', true],
        ['c', 'always'],
      ],
      ran,
    ).unwind();
    expect(ran).toEqual(['c', 'b', 'a']);
    expect(outcomes.map((outcome) => [outcome.what, outcome.error?.message])).toEqual([
      ['c', undefined],
      ['b', 'b broke'],
      ['a', undefined],
    ]);
  });

  it('unwinding twice gives nothing back twice', async () => {
    const ran: string[] = [];
    const stack = stackOf(ENTRIES, ran);
    await stack.unwind();
    await stack.unwind();
    expect(ran).toHaveLength(3);
  });
});
