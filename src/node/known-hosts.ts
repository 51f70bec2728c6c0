// Host key verification against an OpenSSH known_hosts file (sshd(8) "SSH_KNOWN_HOSTS FILE
// FORMAT"): plain and `[host]:port` names, comma lists, wildcards, negation, hashed |1| entries,
// @revoked (reject) and @cert-authority (ignored: we do not trust CA-signed host keys).

import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SendenseError } from '../errors.js';

export interface KnownHostEntry {
  readonly line: number;
  readonly marker: 'revoked' | 'cert-authority' | undefined;
  readonly hosts: string;
  readonly keyType: string;
  readonly keyBlob: Buffer;
}

export type HostKeyVerdict =
  | { readonly status: 'trusted'; readonly line: number }
  | { readonly status: 'unknown' }
  | { readonly status: 'changed'; readonly lines: readonly number[] }
  | { readonly status: 'revoked'; readonly line: number };

// The name a host is looked up by: `host` on port 22, `[host]:port` otherwise (like OpenSSH).
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0].startsWith('#')) return;
    let marker: KnownHostEntry['marker'];
    if (fields[0].startsWith('@')) {
      const name = fields.shift()!.slice(1);
      if (name !== 'revoked' && name !== 'cert-authority') return;
      marker = name;
    }
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64) return;
    entries.push({ line: index + 1, marker, hosts, keyType, keyBlob: Buffer.from(base64, 'base64') });
  });
  return entries;
}

// Does this entry's host field name `name`? A negated pattern that matches excludes the line.
export function hostsFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) return hashedMatches(field, name);
  let matched = false;
  for (const pattern of field.split(',')) {
    const negated = pattern.startsWith('!');
    if (globMatches(negated ? pattern.slice(1) : pattern, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

// |1|base64(salt)|base64(HMAC-SHA1(salt, name)), as written by `ssh-keygen -H`.
function hashedMatches(field: string, name: string): boolean {
  const [, , salt, hash] = field.split('|');
  if (!salt || !hash) return false;
  const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return digest === hash;
}

function globMatches(pattern: string, name: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 'i').test(name);
}

export function checkHostKey(entries: readonly KnownHostEntry[], name: string, keyBlob: Buffer): HostKeyVerdict {
  const forHost = entries.filter((entry) => entry.marker !== 'cert-authority' && hostsFieldMatches(entry.hosts, name));
  const revoked = forHost.find((entry) => entry.marker === 'revoked' && entry.keyBlob.equals(keyBlob));
  if (revoked) return { status: 'revoked', line: revoked.line };
  const plain = forHost.filter((entry) => entry.marker === undefined);
  const trusted = plain.find((entry) => entry.keyBlob.equals(keyBlob));
  if (trusted) return { status: 'trusted', line: trusted.line };
  if (plain.length === 0) return { status: 'unknown' };
  // Lines with a key of the presented type are the ones that "changed"; else any line of the host.
  const type = keyTypeOf(keyBlob);
  const sameType = plain.filter((entry) => entry.keyType === type);
  return { status: 'changed', lines: (sameType.length > 0 ? sameType : plain).map((entry) => entry.line) };
}

// Key types known for a host, so the server is asked for one we can verify (as OpenSSH does).
export function knownKeyTypes(entries: readonly KnownHostEntry[], name: string): string[] {
  const types = entries
    .filter((entry) => entry.marker === undefined && hostsFieldMatches(entry.hosts, name))
    .map((entry) => entry.keyType);
  return [...new Set(types)];
}

// The first string of an SSH public key blob is its type (RFC 4253 section 6.6).
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

// "SHA256:..." as ssh-keygen -l prints it (base64 without padding).
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

function keyTypeLabel(type: string): string {
  if (type === 'ssh-ed25519') return 'ED25519';
  if (type.startsWith('ecdsa-')) return 'ECDSA';
  if (type === 'ssh-rsa') return 'RSA';
  return type;
}

export function readKnownHosts(file: string): { entries: KnownHostEntry[]; missing: boolean } {
  try {
    return { entries: parseKnownHosts(readFileSync(file, 'utf8')), missing: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], missing: true };
    throw new SendenseError(`cannot read known_hosts ${file}: ${(error as Error).message}`, { cause: error });
  }
}

// The one-line error for a key that is not trusted, with what to do about it.
export function hostKeyError(
  verdict: Exclude<HostKeyVerdict, { status: 'trusted' }>,
  target: { host: string; port: number; knownHosts: string; missing?: boolean },
  keyBlob: Buffer,
): SendenseError {
  const name = knownHostName(target.host, target.port);
  const print = `${keyTypeLabel(keyTypeOf(keyBlob))} fingerprint ${fingerprint(keyBlob)}`;
  const file = target.knownHosts;
  switch (verdict.status) {
    case 'unknown': {
      const scan = target.port === 22 ? `ssh-keyscan ${target.host}` : `ssh-keyscan -p ${target.port} ${target.host}`;
      const where = target.missing ? `${file} (the file does not exist)` : file;
      return new SendenseError(
        `host key of ${name} is not in ${where} (${print}). To trust it, verify the fingerprint and run: ${scan} >> ${file}`,
      );
    }
    case 'changed':
      return new SendenseError(
        `HOST KEY OF ${name} HAS CHANGED: it presented ${print}, which does not match ${file} line ${verdict.lines.join(', ')}. ` +
          `Someone may be intercepting the connection; if the node was really reinstalled, remove that line and add the new key.`,
      );
    case 'revoked':
      return new SendenseError(
        `host key of ${name} is revoked in ${file} line ${verdict.line} (${print}): refusing to connect`,
      );
  }
}
