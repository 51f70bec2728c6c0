// Bucket keys as paths inside fetch's directory (src/copy/s3/key-path.ts, docs/copies.md#what-fetch-refuses):
// the keys no real server lets a test plant (NUL, other control characters) beside those it does
// (./s3-fetch-refusals.test.ts plants those in radosgw).

import { describe, expect, it } from 'vitest';
import { keyPathProblem } from '../../src/copy/s3/key-path.js';

describe('a bucket key as a path inside the directory', () => {
  it('refuses every key that is not plain names joined by /', () => {
    expect(keyPathProblem('vm1/disk-2000/20261126-031752-01c5.qcow2')).toBeUndefined();
    expect(keyPathProblem('.sendense-repository')).toBeUndefined();
    expect(keyPathProblem('vm1/disk-2000/a..b.json')).toBeUndefined();
    for (const [key, problem] of [
      ['', 'it is the prefix itself'],
      ['vm1/disk-2000/../../../etc/cron.d/x', 'it has a . or .. segment'],
      ['..', 'it has a . or .. segment'],
      ['vm1/./x', 'it has a . or .. segment'],
      ['/etc/passwd', 'it is absolute'],
      ['vm1//x', 'it has an empty segment'],
      ['vm1/', 'it has an empty segment'],
      ['vm1\\..\\x', 'it holds a backslash'],
      ['vm1/x\u0000.qcow2', 'it holds a control character'],
      ['vm1/x\n.json', 'it holds a control character'],
    ]) {
      expect(keyPathProblem(key!), JSON.stringify(key)).toBe(problem);
    }
  });
});
