#!/usr/bin/env node
// How long each test file takes (test/times.json, recorded from a whole run's reports of
// ./file-times-reporter.js), and what CI and the edit loop do with it:
//   test-times.js split N            the test files in N groups of about equal time, one line each
//                                    (the package tests in the first: the system's Node.js line;
//                                    the compile-cache test in another: it needs Node.js 22.1)
//   test-times.js quick              the test files of `scripts/test.sh --quick`: quick ones and new ones
//   test-times.js slowest REPORT...  the 10 slowest files of the runs whose JSON reports are given
//   test-times.js record REPORT...   test/times.json rewritten from those reports (one or more whole
//                                    runs': each file's mean)
// A file test/times.json does not know yet counts as NEW_FILE_SECONDS: it is in the quick set (its
// author wants to see it run) and weighs like an ordinary end-to-end file in a split.

import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
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
// The package tests build and install with the system's Node.js and npm: in a split, the first group.
const FIRST_GROUP_ONLY = /^test\/packaging\//;
// Node.js's compile cache exists from 22.1: its test skips on the system's Node.js 20, so in a split
// it goes to another group, where it runs.
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
    const entries = parsed.files ? Object.entries(parsed.files) : (parsed.testResults ?? []).map((result) => [result.name, Math.max(0, (result.endTime - result.startTime) / 1000)]);
    for (const [absolute, seconds] of entries) {
      const file = path.relative(root, absolute).split(path.sep).join('/');
      // A copy of the checkout (scripts/test-node.sh) names its files under its own root.
      const name = file.startsWith('..') ? file.slice(file.search(/(^|\/)(test|src|runners)\//)).replace(/^\//, '') : file;
      (times[name] ??= []).push(seconds);
    }
  }
  return times;
}

// Longest first, each into the group with the least time so far.
function split(count) {
  const times = recorded();
  const groups = Array.from({ length: count }, () => ({ seconds: 0, files: [] }));
  const files = testFiles().map((file) => ({ file, seconds: (times[file] ?? NEW_FILE_SECONDS) + FILE_OVERHEAD_SECONDS }));
  files.sort((a, b) => b.seconds - a.seconds || a.file.localeCompare(b.file));
  for (const { file, seconds } of files) {
    const allowed = FIRST_GROUP_ONLY.test(file) ? groups.slice(0, 1) : OTHER_GROUPS_ONLY.test(file) && count > 1 ? groups.slice(1) : groups;
    const group = allowed.reduce((least, each) => (each.seconds < least.seconds ? each : least));
    group.seconds += seconds;
    group.files.push(file);
  }
  return groups;
}

const [command, ...args] = process.argv.slice(2);
if (command === 'split' && /^[1-9]$/.test(args[0] ?? '')) {
  for (const group of split(Number(args[0]))) console.log(group.files.join(' '));
} else if (command === 'quick' && args.length === 0) {
  const times = recorded();
  console.log(
    testFiles()
      .filter((file) => (times[file] ?? 0) < QUICK_SECONDS)
      .join(' '),
  );
} else if (command === 'slowest' && args.length > 0) {
  const slowest = Object.entries(reportTimes(args))
    .map(([file, seconds]) => [file, Math.max(...seconds)])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10);
  console.log('the 10 slowest test files:');
  for (const [file, seconds] of slowest) console.log(`${seconds.toFixed(1).padStart(8)} s  ${file}`);
} else if (command === 'record' && args.length > 0) {
  // Several whole runs' reports: each file's mean, steadier than one run's (a file's time moves
  // with what it meets on the cores).
  const times = Object.fromEntries(Object.entries(reportTimes(args)).map(([file, seconds]) => [file, seconds.reduce((sum, each) => sum + each, 0) / seconds.length]));
  const sorted = Object.fromEntries(
    Object.keys(times)
      .sort()
      .map((file) => [file, Math.round(times[file] * 10) / 10]),
  );
  writeFileSync(TIMES, `${JSON.stringify(sorted, null, 1)}\n`);
  console.log(`test-times: ${Object.keys(sorted).length} files recorded in ${path.relative(root, TIMES)}`);
} else {
  console.error('usage: scripts/test-times.js split N | quick | slowest REPORT... | record REPORT...');
  process.exit(2);
}
