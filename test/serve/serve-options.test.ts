// What `serve` makes of its options before it touches anything: --node as a NodeSpec, and where
// --writable's overlays go.

import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNodeOption } from '../../src/serve/node-option.js';
import { overlayDirFor } from '../../src/serve/overlay-dir.js';

describe('serve --node', () => {
  it('takes [USER@]HOST[:PORT], this user and port 22 by default, ~/.ssh/known_hosts unless told', () => {
    expect(parseNodeOption('node1')).toEqual({
      host: 'node1',
      port: 22,
      user: userInfo().username,
      identityFile: undefined,
      knownHosts: path.join(homedir(), '.ssh/known_hosts'),
    });
    expect(parseNodeOption('sendense@10.0.100.231:2222', { identity: '~/.ssh/id', knownHosts: 'kh' })).toEqual({
      host: '10.0.100.231',
      port: 2222,
      user: 'sendense',
      identityFile: path.join(homedir(), '.ssh/id'),
      knownHosts: path.resolve('kh'),
    });
    expect(parseNodeOption('root@[2001:db8::1]:22')).toMatchObject({ host: '2001:db8::1', port: 22, user: 'root' });
  });

  it.each(['', 'a@b@c', 'host:', 'host:0', 'host:65536', '2001:db8::1', 'two words'])(
    "refuses '%s' as a usage error",
    (text) => {
      expect(() => parseNodeOption(text)).toThrow(
        expect.objectContaining({ exitCode: 2, message: expect.stringMatching(/^--node: /) }),
      );
    },
  );
});

describe('serve --writable overlays', () => {
  it('live in serve-overlays/ beside a SQLite state database, or in the state directory with PostgreSQL', () => {
    expect(overlayDirFor('/srv/state/sendense.db')).toBe('/srv/state/serve-overlays');
    const postgres = overlayDirFor('postgres://sendense@db.example:5432/sendense');
    expect(path.isAbsolute(postgres)).toBe(true);
    expect(postgres).toMatch(/\/sendense\/serve-overlays$/);
  });
});
