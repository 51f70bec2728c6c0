// A listing answered again, not built again, while no point changed (026-layer-facts' counter,
// docs/api.md#backups): one VM's 10,000 points are 8 MB of JSON. The counter is read before the
// points, so an answer is never kept under a number older than what it shows.

import type { Store } from '../store/index.js';
import { JsonText } from './route.js';

// The most recent listings kept (by the VM asked for).
const KEPT = 8;

const cachesByStore = new WeakMap<Store, Map<string, { generation: number; answer: JsonText }>>();

/** `build`'s answer, and whether it may be kept (not while a point runs: its files grow). */
export async function cachedListing(
  store: Store,
  key: string,
  build: () => Promise<{ answer: unknown; keep: boolean }>,
): Promise<JsonText> {
  const generation = await store.backupsGeneration();
  const cache = cachesByStore.get(store) ?? new Map<string, { generation: number; answer: JsonText }>();
  cachesByStore.set(store, cache);
  const kept = cache.get(key);
  if (kept !== undefined && kept.generation === generation) return kept.answer;
  const built = await build();
  const answer = new JsonText(JSON.stringify(built.answer));
  cache.delete(key);
  if (generation !== undefined && built.keep) cache.set(key, { generation, answer });
  while (cache.size > KEPT) cache.delete(cache.keys().next().value!);
  return answer;
}
