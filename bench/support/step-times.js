// Where a whole command's time goes, from its own --json events.

// Seconds per step of a --json run, and `(start)` (spawn to the first event) and `(end)` (the last
// event to exit). And each of its cleanup's entries: from the info event naming it (sent as it
// starts) to the next one or the step's end. started/ended: epoch ms of spawn and exit.
export function stepTimes(stdout, started, ended) {
  const events = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
  if (events.length === 0) return undefined;
  const at = (event) => Date.parse(event.time);
  const times = { '(start)': (at(events[0]) - started) / 1000, '(end)': (ended - at(events.at(-1))) / 1000 };
  const begun = new Map();
  const cleanup = {};
  let giving;
  for (const event of events) {
    if (giving !== undefined && event.step === 'cleanup' && (event.type === 'info' || event.type === 'step-done')) {
      cleanup[giving.what] = (cleanup[giving.what] ?? 0) + (at(event) - giving.at) / 1000;
      giving = undefined;
    }
    // Named without its run's IDs, PIDs, paths and ports, so that runs add up by kind of entry.
    if (event.type === 'info' && event.step === 'cleanup')
      giving = { what: event.message.replace(/\/\S+/g, 'PATH').replace(/\b[\w-]*\d[\w.-]*/g, 'N'), at: at(event) };
    if (event.type === 'step-start') begun.set(event.step, at(event));
    if (event.type === 'step-done' && begun.has(event.step))
      times[event.step] = (times[event.step] ?? 0) + (at(event) - begun.get(event.step)) / 1000;
  }
  return { times, cleanup };
}
