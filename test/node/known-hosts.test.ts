import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { checkHostKey, fingerprint, knownHostName, parseKnownHosts } from '../../src/node/known-hosts.js';

let dir: string;
let keyLine: string;
let blob: Buffer;
let otherBlob: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sendense-known-hosts-'));
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'a')]);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'b')]);
  keyLine = (await readFile(join(dir, 'a.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
  blob = Buffer.from(keyLine.split(' ')[1], 'base64');
  otherBlob = Buffer.from((await readFile(join(dir, 'b.pub'), 'utf8')).split(' ')[1], 'base64');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('known_hosts', () => {
  it('names hosts like OpenSSH: bare on port 22, [host]:port otherwise', () => {
    expect(knownHostName('10.0.0.5', 22)).toBe('10.0.0.5');
    expect(knownHostName('10.0.0.5', 2222)).toBe('[10.0.0.5]:2222');
  });

  it('matches comma lists, wildcards and negations', () => {
    const entries = parseKnownHosts(`node1,node2.example ${keyLine}\n*.lab,!bad.lab ${keyLine}\n`);
    expect(checkHostKey(entries, 'node2.example', blob)).toEqual({ status: 'trusted', line: 1 });
    expect(checkHostKey(entries, 'x.lab', blob)).toEqual({ status: 'trusted', line: 2 });
    expect(checkHostKey(entries, 'bad.lab', blob)).toEqual({ status: 'unknown' });
    expect(checkHostKey(entries, '[node1]:2222', blob)).toEqual({ status: 'unknown' });
    expect(checkHostKey(entries, 'node1', otherBlob)).toEqual({ status: 'changed', lines: [1] });
  });

  it('reads entries hashed by ssh-keygen -H', async () => {
    const file = join(dir, 'hashed');
    await writeFile(file, `[10.0.0.5]:2222 ${keyLine}\nplainhost ${keyLine}\n`);
    await execa('ssh-keygen', ['-H', '-f', file]);
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('10.0.0.5');
    const entries = parseKnownHosts(text);
    expect(checkHostKey(entries, '[10.0.0.5]:2222', blob).status).toBe('trusted');
    expect(checkHostKey(entries, '10.0.0.5', blob).status).toBe('unknown');
    expect(checkHostKey(entries, '[10.0.0.5]:2222', otherBlob).status).toBe('changed');
  });

  it('ignores @cert-authority lines and honours @revoked', () => {
    const entries = parseKnownHosts(`@cert-authority * ${keyLine}\n`);
    expect(checkHostKey(entries, 'anyhost', blob)).toEqual({ status: 'unknown' });
    const revoked = parseKnownHosts(`anyhost ${keyLine}\n@revoked * ${keyLine}\n`);
    expect(checkHostKey(revoked, 'anyhost', blob)).toEqual({ status: 'revoked', line: 2 });
  });

  it('prints the fingerprint ssh-keygen prints', async () => {
    const { stdout } = await execa('ssh-keygen', ['-l', '-f', join(dir, 'a.pub')]);
    expect(stdout.split(' ')[1]).toBe(fingerprint(blob));
  });
});
