// Loaded with `node --import` (NODE_OPTIONS) into a process the test starts: its clock reads
// $SENDENSE_TEST_CLOCK_SKEW_MS off the real time (a hub on a host whose clock is wrong). With
// $SENDENSE_TEST_CLOCK_SKEW_FILE, the skew is that file's number (milliseconds), read again every
// 50 ms: a test or the campaign moves the clock while the process runs (NTP stepping it).
// Date.now() and `new Date()` move; timers and performance.now() do not.
import { readFileSync } from 'node:fs';

const file = process.env.SENDENSE_TEST_CLOCK_SKEW_FILE;
let skew = Number(process.env.SENDENSE_TEST_CLOCK_SKEW_MS ?? 0);
const RealDate = globalThis.Date;

function follow() {
  try {
    const value = Number(readFileSync(file, 'utf8').trim());
    if (Number.isFinite(value)) skew = value;
  } catch {
    // Not there (yet, or any more): the clock keeps its skew.
  }
}

if (file !== undefined) {
  follow();
  setInterval(follow, 50).unref();
}

class SkewedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + skew);
    else super(...args);
  }

  static now() {
    return RealDate.now() + skew;
  }
}

globalThis.Date = SkewedDate;
