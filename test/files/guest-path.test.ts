// Where an extracted guest path lands in the target (docs/file-level-restore.md): below its
// filesystem's root, as tar keeps it, never flattened to its last component.

import { describe, expect, it } from 'vitest';
import { extractedName, parseGuestPath } from '../../src/files/guest-path.js';

describe('extractedName', () => {
  it('keeps the path below the filesystem root; the root itself is named after the filesystem', () => {
    expect(extractedName(parseGuestPath('p1:/home/alice/docs/report2.txt'))).toBe('home/alice/docs/report2.txt');
    expect(extractedName(parseGuestPath('p1:/etc/'))).toBe('etc');
    expect(extractedName(parseGuestPath('p1:/var/../etc/hosts'))).toBe('etc/hosts');
    expect(extractedName(parseGuestPath('vg0/root:/'))).toBe('vg0-root');
  });
});
