// The figures the benches print from their runs.

// The middle value; of an even count, the upper of the two middle ones.
export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// The middle value; of an even count, the mean of the two middle ones.
export function meanMedian(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// "min-max" with two decimals.
export const spread = (values) => `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}`;
