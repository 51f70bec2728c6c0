// A sandbox (tiny qcow2 source, repository, state path; see test/schedule/test-plans.ts) with its
// store open, fresh for every test of the file; closed and removed after each.

import { afterEach, beforeEach } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { makeSandbox, type Sandbox } from '../schedule/test-plans.js';

export interface SandboxStore {
  readonly box: Sandbox;
  readonly store: Store;
}

// Registers the hooks; read the fields inside a test (`const { box, store } = sandbox;`).
export function useSandboxStore(prefix: string): SandboxStore {
  let box: Sandbox | undefined;
  let store: Store | undefined;
  beforeEach(async () => {
    box = makeSandbox(prefix);
    store = await openStore(box.db);
  });
  afterEach(async () => {
    await store?.close();
    box?.remove();
    store = undefined;
    box = undefined;
  });
  return {
    get box() {
      if (!box) throw new Error('no sandbox outside a test');
      return box;
    },
    get store() {
      if (!store) throw new Error('no store outside a test');
      return store;
    },
  };
}
