// Every program we start speaks English, whatever the user's locale (docs/how-it-works.md#commands-on-a-node):
// we read what virsh and qemu-img print, and show their messages beside our own. A real German
// locale (made by localedef into a folder of the test's own, found through LOCPATH) and coreutils'
// own German messages: started plainly, `ls` answers in German; through the hub's exec and through
// an SSH node whose sessions start in that locale, in English, with the user's character set kept.

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLocalNode } from '../../src/node/local.js';
import { connectSshNode } from '../../src/node/ssh.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

const GERMAN = 'de_DE.UTF-8';
const MISSING = '/nonexistent-sendense-english';
const ENGLISH_MESSAGE = `ls: cannot access '${MISSING}': No such file or directory\n`;

let dir: string;
let locales: string;
let sshd: TestSshd | undefined;
const saved = { LC_ALL: process.env.LC_ALL, LOCPATH: process.env.LOCPATH, LANGUAGE: process.env.LANGUAGE };

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sendense-locale-'));
  locales = path.join(dir, 'locales');
  await mkdir(locales);
  await execa('localedef', ['-i', 'de_DE', '-f', 'UTF-8', path.join(locales, GERMAN)]);
}, 120_000);

afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

afterAll(async () => {
  await sshd?.stop();
  await rm(dir, { recursive: true, force: true });
});

function inGerman(): Record<string, string> {
  return { LC_ALL: GERMAN, LOCPATH: locales, LANGUAGE: 'de' };
}

describe('messages of the programs we start', () => {
  it('the locale is real: started plainly, ls answers in German', async () => {
    const plain = await execa('ls', [MISSING], { env: inGerman(), reject: false });
    expect(plain.stderr).toContain('nicht gefunden');
  });

  it("through the hub's exec, in English; the user's character set stays", async () => {
    Object.assign(process.env, inGerman());
    const node = createLocalNode();
    const ls = await node.exec(['ls', MISSING]);
    expect(ls).toMatchObject({ exitCode: 2, stderr: ENGLISH_MESSAGE });
    const charset = await node.exec(['locale', 'charmap']);
    expect(charset.stdout).toBe('UTF-8\n');
    // What the caller gives a child still wins.
    const asked = await node.exec(['sh', '-c', 'printf %s "$LC_MESSAGES"'], { env: { LC_MESSAGES: GERMAN } });
    expect(asked.stdout).toBe(GERMAN);
  });

  it('through an SSH node whose sessions start in German: in English, for commands alone and in its command shell', async () => {
    sshd = await startSshd({ setEnv: inGerman() });
    const node = await connectSshNode(
      {
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        identityFile: sshd.identityFile,
        knownHosts: sshd.knownHosts,
      },
      { agent: false },
    );
    try {
      // A short command (the node's command shell) and one with an environment (a session of its own).
      expect(await node.exec(['ls', MISSING])).toMatchObject({ exitCode: 2, stderr: ENGLISH_MESSAGE });
      expect(await node.exec(['ls', MISSING], { env: { SENDENSE_TEST: '1' } })).toMatchObject({
        exitCode: 2,
        stderr: ENGLISH_MESSAGE,
      });
      const charset = await node.exec(['sh', '-c', 'printf "%s %s" "$LANG" "$(locale charmap)"']);
      expect(charset.stdout).toBe(`${GERMAN} UTF-8`);
    } finally {
      await node.close();
    }
  });
});
