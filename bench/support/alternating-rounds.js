// One warm-up round (round -1: measure it, but do not keep it), then `runs` rounds; the order
// flips every round so that no tool always goes first (page cache, load swings). beforeRound
// prepares what every tool of a round copies (e.g. the same dirty blocks).
export async function alternatingRounds(runs, names, measure, { beforeRound } = {}) {
  for (let round = -1; round < runs; round++) {
    await beforeRound?.(round);
    for (const name of round % 2 === 0 ? names : [...names].reverse()) await measure(name, round);
  }
}
