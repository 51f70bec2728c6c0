// What a command prints under --json (docs/json-events.md), declared once beside the command: each
// kind of line it prints, field by field. A declaration is typed by the lines the command's printer
// writes, so a field added to a line cannot go undocumented; scripts/gen-docs.js makes the
// command's section of json-events.md from it, and test/docs/generated-docs.test.ts fails when the
// committed file differs.

import type { Output } from '../engine/output.js';

/** Every key of every member of a union (a line whose fields differ by its `action`). */
type KeysOf<L> = L extends unknown ? keyof L : never;

/** One kind of line, held to its type `L` (its fields but `type` when lines are told apart by it). */
export interface JsonLineDoc<L, Told extends PropertyKey = 'type'> {
  /** When it is printed (markdown). */
  readonly when: string;
  /** Each field, in the order the docs list them: what it holds ('' when its name says it). */
  readonly fields: { readonly [K in Exclude<KeysOf<L>, Told>]-?: string };
  /** Said after the fields. */
  readonly note?: string;
}

/** A line's declaration, whatever its type. */
export interface AnyJsonLineDoc {
  readonly when: string;
  readonly fields: Readonly<Record<string, string>>;
  readonly note?: string;
}

/** A command's lines: by `type` when they carry one, else by what the docs call them. */
export interface JsonLines {
  readonly typed: boolean;
  readonly lines: Readonly<Record<string, AnyJsonLineDoc>>;
}

/** A command's section of docs/json-events.md. */
export interface JsonOutput {
  /** Its heading when not `NAME --json` (`catalog import --json`). */
  readonly heading?: string;
  /** Said before the lines (markdown): how many, in which order. */
  readonly intro?: string;
  readonly lines: JsonLines;
  /** Said after the lines (markdown). */
  readonly after?: string;
}

/** Lines that each carry a `type`: one declaration per type, held to that line's fields. */
export function typedLines<L extends { readonly type: string }>(lines: {
  readonly [T in L['type']]: JsonLineDoc<Extract<L, { readonly type: T }>>;
}): JsonLines {
  return { typed: true, lines: lines as unknown as Readonly<Record<string, AnyJsonLineDoc>> };
}

/** Lines without a `type` (one object per plan, per run): one declaration per shape, named for the docs. */
export function shapedLines<L extends Readonly<Record<string, object>>>(lines: {
  readonly [N in keyof L]: JsonLineDoc<L[N], never>;
}): JsonLines {
  return { typed: false, lines: lines as unknown as Readonly<Record<string, AnyJsonLineDoc>> };
}

/** Writes one line of a command's --json, of its declared type. */
export function printJson<L extends object>(cli: Pick<Output, 'stdout'>, line: L): void {
  cli.stdout.write(`${JSON.stringify(line)}\n`);
}
