// The hub refuses, in one line, the Node.js releases on which its SQLite driver aborts the process.

import { describe, expect, it } from 'vitest';
import { refuseUnsafeNode } from '../../src/store/open-store.js';

describe('the Node.js the hub runs on', () => {
  it('20, 22 and 24 up to 24.18 are accepted', () => {
    for (const version of ['20.20.2', '22.23.3', '24.0.0', '24.18.1']) expect(() => refuseUnsafeNode(version)).not.toThrow();
  });

  it('24.19 and later are refused by name, saying which to use', () => {
    for (const version of ['24.19.0', '24.21.0', '26.1.0']) {
      expect(() => refuseUnsafeNode(version)).toThrow(`Node.js ${version} is not supported on the hub`);
      expect(() => refuseUnsafeNode(version)).toThrow('run sendense-run on Node.js 20, 22 or 24.0-24.18');
    }
  });
});
