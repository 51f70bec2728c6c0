// Parses plan YAML keeping node positions, so any problem found later in the data can be
// reported at the line and column of the key or value it is about.

import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Document,
  type Node,
} from 'yaml';
import type { PlanPath } from './plan-issue.js';

export interface Position {
  readonly line: number;
  readonly column: number;
}

export interface PlanYaml {
  /** The plan data (plain JSON values); undefined when the YAML itself is broken. */
  readonly data: unknown;
  /** YAML syntax problems; when there are any, data is undefined. */
  readonly syntaxErrors: readonly { readonly position: Position; readonly message: string }[];
  /** Where the key or the value at `path` is; the nearest existing parent when it is missing. */
  locate(path: PlanPath, at: 'key' | 'value'): Position;
}

export function parsePlanYaml(text: string): PlanYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: '1.2' });
  const position = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const locate = (path: PlanPath, at: 'key' | 'value'): Position => position(offsetOf(doc, path, at));
  // One unclosed bracket can produce several errors on one line: the first says it.
  const lineOf = (offset: number) => lineCounter.linePos(offset).line;
  const syntaxErrors = doc.errors
    .filter((error, i) => doc.errors.findIndex((other) => lineOf(other.pos[0]) === lineOf(error.pos[0])) === i)
    .map((error) => ({
      position: position(error.pos[0]),
      message:
        syntaxMessage(error.code, error.message, keyAt(doc, error.pos[0]) ?? text.slice(error.pos[0], error.pos[1])) +
        braceHint(text, error.pos[0]),
    }));
  if (syntaxErrors.length > 0) return { data: undefined, syntaxErrors, locate };
  try {
    return { data: doc.toJS({ maxAliasCount: 100 }), syntaxErrors, locate };
  } catch (error) {
    // toJS fails on an alias to an unknown anchor or an alias bomb; both are the file's fault.
    const message = `YAML error: ${(error as Error).message}`;
    return { data: undefined, syntaxErrors: [{ position: position(0), message }], locate };
  }
}

// `{key}` inside a flow mapping (`target: { path: /r/vm-{key}.qcow2 }`) reads as YAML braces.
function braceHint(text: string, offset: number): string {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const lineEnd = text.indexOf('\n', offset);
  const line = text.slice(lineStart, lineEnd === -1 ? undefined : lineEnd);
  return /[^"'\s]\{key\}/.test(line) ? ' (inside { } quote a value holding {key}, like "/restore/vm-{key}.qcow2")' : '';
}

// YAML messages rewritten where the library's wording is not about the user's file.
function syntaxMessage(code: string, message: string, source: string): string {
  if (code === 'MULTIPLE_DOCS') return "YAML error: a plan file holds one document (remove the second '---')";
  if (code === 'DUPLICATE_KEY') return `YAML error: duplicate key '${source.trim()}'`;
  return `YAML error: ${message}`;
}

// The key starting at offset (a duplicate key's error covers only its first character).
function keyAt(doc: Document, offset: number): string | undefined {
  let key: string | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (!isScalar(pair.key) || pair.key.range?.[0] !== offset) return undefined;
      key = String(pair.key.value);
      return visit.BREAK;
    },
  });
  return key;
}

// Offset of the key or value at `path`, falling back to the deepest node that exists.
function offsetOf(doc: Document, path: PlanPath, at: 'key' | 'value'): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    if (isAlias(node)) node = node.resolve(doc);
    if (typeof segment === 'number' && isSeq(node)) {
      node = node.items[segment];
      offset = rangeStart(node) ?? offset;
      continue;
    }
    if (typeof segment === 'string' && isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === segment);
      if (pair === undefined) return offset;
      const last = i === path.length - 1;
      const keyOffset = rangeStart(pair.key) ?? offset;
      if (last && at === 'key') return keyOffset;
      node = pair.value;
      offset = rangeStart(node) ?? keyOffset;
      continue;
    }
    return offset;
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : undefined;
}
