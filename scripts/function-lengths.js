// The length of every function in src, runners and console, as issue 75 counts it: first to last
// line (both included) of each function declaration, method, constructor, accessor, function
// expression and arrow function with a block body, read with the TypeScript compiler's own parser.
// Prints the longest, then how many are over the limit (default 100 lines).
//   node scripts/function-lengths.js [--over N] [--top N] [--json]
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOTS = ['src', 'runners', 'console'];
const SKIP = new Set(['node_modules', 'dist']);

function argValue(name, fallback) {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return SKIP.has(entry.name) ? [] : sourceFiles(file);
    return /\.(ts|tsx|js|mjs|cjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [file] : [];
  });
}

// A name for messages: the function's own, the variable or property it is assigned to, or <anonymous>.
function nameOf(node) {
  if (node.name !== undefined) return node.name.getText();
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))
    return parent.name.getText();
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  return '<anonymous>';
}

function functionsOf(file) {
  const text = readFileSync(file, 'utf8');
  const kind = file.endsWith('x') ? ts.ScriptKind.TSX : file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const found = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body !== undefined && ts.isBlock(node.body)) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
      found.push({ file, line: first, name: nameOf(node), lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const over = argValue('--over', 100);
const top = argValue('--top', 30);
const all = ROOTS.flatMap(sourceFiles)
  .flatMap(functionsOf)
  .sort((a, b) => b.lines - a.lines);
const long = all.filter((fn) => fn.lines > over);
if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ functions: all.length, over, overCount: long.length, longest: all.slice(0, top) }));
} else {
  for (const fn of all.slice(0, top)) console.log(`${String(fn.lines).padStart(5)}  ${fn.file}:${fn.line}  ${fn.name}`);
  console.log(`${all.length} functions; ${long.length} over ${over} lines; longest ${all[0]?.lines ?? 0}`);
}
