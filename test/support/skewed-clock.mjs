// Loaded with `node --import` (NODE_OPTIONS) into a process the test starts: its clock reads
// $SENDENSE_TEST_CLOCK_SKEW_MS off the real time (a hub on a host whose clock is wrong). Date.now()
// and `new Date()` move; timers and performance.now() do not.
const skew = Number(process.env.SENDENSE_TEST_CLOCK_SKEW_MS ?? 0);
const RealDate = globalThis.Date;

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
