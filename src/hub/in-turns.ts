// Maps items with at most `limit` of them at work at once; results in the items' order. How a
// run's disks take turns within its hub slots (the node transfer and local restore copies).

export async function inTurns<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}

/**
 * Runs `work` on each item, at most `limit` at once. After a failure no item starts; the ones already
 * at work end (so whatever they took is registered) before the first failure is thrown.
 */
export async function eachInTurns<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      await work(item).catch((error: unknown) => {
        failed = true;
        throw error;
      });
    }
  };
  const lanes = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  const failure = lanes.find((lane) => lane.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
}
