// The campaign's only source of randomness: mulberry32, seeded, so a seed replays the same
// operations, fault kinds and fault moments (kills by delay still race the machine's load).

export function mulberry32(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    // An integer in [min, max].
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)],
    chance: (p) => next() < p,
    // A 32-bit seed for a sub-generator: a step's own choices, independent of the steps around it.
    seed: () => Math.floor(next() * 4294967296) >>> 0,
    // One key of weights ({ backup: 5, prune: 1 }), chosen in proportion.
    weighted: (weights) => {
      const entries = Object.entries(weights);
      let roll = next() * entries.reduce((sum, [, weight]) => sum + weight, 0);
      for (const [key, weight] of entries) {
        roll -= weight;
        if (roll < 0) return key;
      }
      return entries[entries.length - 1][0];
    },
  };
}
