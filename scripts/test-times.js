#!/usr/bin/env node
// How long each test file takes (test/times.json, recorded from a whole run's reports of
// ./file-times-reporter.js), and what CI and the edit loop do with it:
//   test-times.js queue DIR N        the test files as a queue of chunks in DIR, for N lines that
//                                    each take the next chunk when done with one (.ci/run): the
//                                    longest first, smaller chunks towards the end, so the lines
//                                    end together whatever this machine's times are (the package
//                                    tests on the first: the system's Node.js line; the
//                                    compile-cache test on another: it needs Node.js 22.1)
//   test-times.js next DIR LINE      takes the next chunk line LINE (0: the system's) may run and
//                                    prints its files on one line; nothing once none is left
//   test-times.js summary REPORT...  the tests of those reports: 'tests: N passed, N failed, N skipped'
//   test-times.js quick              the test files of `scripts/test.sh --quick`: quick ones and new ones
//   test-times.js failures REPORT... each failure of those reports: its file, test or hook, error
//   test-times.js slowest [N] [REPORT...]
//                                    the N (default 30) slowest files of the runs whose JSON reports
//                                    are given (./file-times-reporter.js's, or vitest's own:
//                                    `npx vitest run --reporter=json --outputFile=report.json`), each
//                                    with its share of the total; without reports, of test/times.json
//                                    (the whole runs it was recorded from): no test is run
//   test-times.js record REPORT...   test/times.json rewritten from those reports (one or more whole
//                                    runs': each file's mean)
// A file test/times.json does not know yet counts as NEW_FILE_SECONDS: it is in the quick set (its
// author wants to see it run) and weighs like an ordinary end-to-end file in the queue.

import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TIMES = path.join(root, 'test', 'times.json');
// The quick set (scripts/test.sh --quick) leaves out every file slower than this.
const QUICK_SECONDS = 8;
const NEW_FILE_SECONDS = 5;
// What vitest spends on a file beyond what the reporter counts (a fresh worker): in CI the files'
// times added up to each line's duration within ~0.2 s a file.
const FILE_OVERHEAD_SECONDS = 0.2;
// The package tests build and install with the system's Node.js and npm: in the queue, the first line's.
const FIRST_GROUP_ONLY = /^test\/packaging\//;
// Node.js's compile cache exists from 22.1: its test skips on the system's Node.js 20, so in the queue
// it goes to another line, where it runs.
const OTHER_GROUPS_ONLY = /^test\/cli\/compile-cache\.test\.ts$/;

// Every test file vitest would run (vitest.config.ts includes), relative to the checkout.
function testFiles() {
  const found = [];
  const walk = (dir) => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const relative = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(relative);
      else if (entry.name.endsWith('.test.ts')) found.push(relative);
    }
  };
  for (const dir of ['src', 'runners', 'test']) walk(dir);
  return found.sort();
}

function recorded() {
  try {
    return JSON.parse(readFileSync(TIMES, 'utf8'));
  } catch {
    return {};
  }
}

// Seconds per file of the reports, each file's times in a list (one per report it is in): those of
// ./file-times-reporter.js (each file's whole time), or vitest JSON reports (its tests only).
function reportTimes(reports) {
  const times = {};
  for (const report of reports) {
    const parsed = JSON.parse(readFileSync(report, 'utf8'));
    const entries = parsed.files
      ? Object.entries(parsed.files)
      : (parsed.testResults ?? []).map((result) => [
          result.name,
          Math.max(0, (result.endTime - result.startTime) / 1000),
        ]);
    for (const [absolute, seconds] of entries) {
      const file = path.relative(root, absolute).split(path.sep).join('/');
      // A copy of the checkout (scripts/test-node.sh) names its files under its own root.
      const name = file.startsWith('..')
        ? file.slice(file.search(/(^|\/)(test|src|runners)\//)).replace(/^\//, '')
        : file;
      (times[name] ??= []).push(seconds);
    }
  }
  return times;
}

// A chunk is about the time left over LINES_PER_CHUNK_SHARE times the number of lines, never
// under MIN_CHUNK_SECONDS: one vitest start per chunk (~2 s) is paid for few, and the last
// chunks are small enough for the lines to end within a chunk of each other (~30 s).
const LINES_PER_CHUNK_SHARE = 3;
const MIN_CHUNK_SECONDS = 30;

// Which lines may run a file: 'first' (the system's), 'others', or 'any'.
function lineClass(file, count) {
  if (FIRST_GROUP_ONLY.test(file)) return 'first';
  if (OTHER_GROUPS_ONLY.test(file) && count > 1) return 'others';
  return 'any';
}

// The chunks in the order they are taken: longest files first; a file joins the chunk under way
// while it stays within the target, which shrinks with the time left (guided self-scheduling).
function chunks(count) {
  const times = recorded();
  const files = testFiles().map((file) => ({
    file,
    seconds: (times[file] ?? NEW_FILE_SECONDS) + FILE_OVERHEAD_SECONDS,
    only: lineClass(file, count),
  }));
  files.sort((a, b) => b.seconds - a.seconds || a.file.localeCompare(b.file));
  let left = files.reduce((sum, each) => sum + each.seconds, 0);
  const result = [];
  const open = {};
  for (const each of files) {
    const target = Math.max(MIN_CHUNK_SECONDS, left / (count * LINES_PER_CHUNK_SHARE));
    let chunk = open[each.only];
    if (chunk && chunk.seconds + each.seconds > target) chunk = undefined;
    if (!chunk) {
      chunk = { seconds: 0, files: [], only: each.only };
      open[each.only] = chunk;
      result.push(chunk);
    }
    chunk.seconds += each.seconds;
    chunk.files.push(each.file);
    left -= each.seconds;
  }
  return result;
}

// One file per chunk in DIR, named by its place in the order and who may run it; taking one is
// renaming it (atomic: of two lines that try, one gets it).
function writeQueue(dir, count) {
  mkdirSync(dir, { recursive: true });
  chunks(count).forEach((chunk, index) =>
    writeFileSync(
      path.join(dir, `${String(index).padStart(4, '0')}.${chunk.only}.chunk`),
      `${chunk.files.join(' ')}\n`,
    ),
  );
}

function takeNext(dir, line) {
  const mine = (name) =>
    name.endsWith('.any.chunk') || (line === 0 ? name.endsWith('.first.chunk') : name.endsWith('.others.chunk'));
  for (const name of readdirSync(dir).filter(mine).sort()) {
    const taken = path.join(dir, `${name}.line${line}`);
    try {
      renameSync(path.join(dir, name), taken);
    } catch (error) {
      if (error.code === 'ENOENT') continue;
      throw error;
    }
    return readFileSync(taken, 'utf8').trim();
  }
  return '';
}

const [command, ...args] = process.argv.slice(2);
if (command === 'queue' && args.length === 2 && /^[1-9]$/.test(args[1])) {
  writeQueue(args[0], Number(args[1]));
} else if (command === 'next' && args.length === 2 && /^[0-9]$/.test(args[1])) {
  const files = takeNext(args[0], Number(args[1]));
  if (files) console.log(files);
} else if (command === 'summary' && args.length > 0) {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for (const report of args) {
    const tests = JSON.parse(readFileSync(report, 'utf8')).tests ?? {};
    for (const key of Object.keys(counts)) counts[key] += tests[key] ?? 0;
  }
  console.log(`tests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
} else if (command === 'failures' && args.length > 0) {
  for (const report of args)
    for (const { file, test, error } of JSON.parse(readFileSync(report, 'utf8')).failures ?? [])
      // The other lines run in a copy of the checkout (scripts/test-node.sh): named from test/ on.
      console.log(
        `failed: ${path.relative(root, file).replace(/^(\.\.\/)+(.*\/)?sendense-run-node[^/]*\//, '')} > ${test}: ${error}`,
      );
} else if (command === 'quick' && args.length === 0) {
  const times = recorded();
  console.log(
    testFiles()
      .filter((file) => (times[file] ?? 0) < QUICK_SECONDS)
      .join(' '),
  );
} else if (command === 'slowest') {
  const count = /^[1-9][0-9]*$/.test(args[0] ?? '') ? Number(args.shift()) : 30;
  const all = Object.entries(
    args.length > 0 ? reportTimes(args) : Object.fromEntries(Object.entries(recorded()).map(([f, s]) => [f, [s]])),
  ).map(([file, seconds]) => [file, Math.max(...seconds)]);
  const total = all.reduce((sum, [, seconds]) => sum + seconds, 0);
  const slowest = all.sort((a, b) => b[1] - a[1]).slice(0, count);
  const from = args.length > 0 ? args.join(', ') : path.relative(root, TIMES);
  console.log(`the ${slowest.length} slowest of ${all.length} test files (${from}; all files ${total.toFixed(0)} s):`);
  for (const [file, seconds] of slowest)
    console.log(`${seconds.toFixed(1).padStart(8)} s ${((100 * seconds) / total).toFixed(1).padStart(5)}%  ${file}`);
  const shown = slowest.reduce((sum, [, seconds]) => sum + seconds, 0);
  console.log(
    `these ${slowest.length}: ${shown.toFixed(0)} s, ${((100 * shown) / total).toFixed(0)}% of all files' time`,
  );
} else if (command === 'record' && args.length > 0) {
  // Several whole runs' reports: each file's mean, steadier than one run's (a file's time moves
  // with what it meets on the cores).
  const times = Object.fromEntries(
    Object.entries(reportTimes(args)).map(([file, seconds]) => [
      file,
      seconds.reduce((sum, each) => sum + each, 0) / seconds.length,
    ]),
  );
  const sorted = Object.fromEntries(
    Object.keys(times)
      .sort()
      .map((file) => [file, Math.round(times[file] * 10) / 10]),
  );
  writeFileSync(TIMES, `${JSON.stringify(sorted, null, 1)}\n`);
  console.log(`test-times: ${Object.keys(sorted).length} files recorded in ${path.relative(root, TIMES)}`);
} else {
  console.error(
    'usage: scripts/test-times.js queue DIR N | next DIR LINE | quick | summary REPORT... | failures REPORT... | slowest [N] [REPORT...] | record REPORT...',
  );
  process.exit(2);
}
