// Opening an SSH connection to a node with ssh2: key or agent authentication, host key checked
// against known_hosts, aes128-gcm preferred (cheapest on small CPUs), keepalive so a dead link
// is noticed in seconds. Every failure becomes one SendenseError naming the node.

import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import ssh2, { type CipherAlgorithm, type Client, type ConnectConfig, type ServerHostKeyAlgorithm } from 'ssh2';
import { SendenseError } from '../errors.js';
import type { NodeSpec } from '../plan/types.js';
import { describeNode } from './node-description.js';
import { checkHostKey, hostKeyError, knownHostName, knownKeyTypes, readKnownHosts } from './known-hosts.js';

export interface SshConnectOptions {
  /** Give up connecting (TCP + handshake + auth) after this long. Default 20 s. */
  readonly readyTimeoutMs?: number;
  /** Keepalive probe interval; the link counts as lost after keepaliveCountMax missed probes. */
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveCountMax?: number;
  /** ssh-agent socket; default $SSH_AUTH_SOCK, false = never use an agent. */
  readonly agent?: string | false;
}

// ssh2 is CommonJS: Node's ESM loader does not see `utils` as a named export.
const { Client: SshClient, utils } = ssh2;

const CIPHERS: CipherAlgorithm[] = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'aes128-ctr',
  'aes192-ctr',
  'aes256-ctr',
];
const HOST_KEY_ALGORITHMS: ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

export interface SshConnection {
  readonly client: Client;
  /** Our own TCP socket under ssh2, so a connection on a dead link can be destroyed for sure. */
  readonly socket: Socket;
}

export async function openSshConnection(spec: NodeSpec, options: SshConnectOptions = {}): Promise<SshConnection> {
  const description = describeNode(spec);
  const agent = options.agent === false ? undefined : (options.agent ?? process.env.SSH_AUTH_SOCK);
  const privateKey = readIdentity(spec, description, agent !== undefined);
  if (privateKey === undefined && agent === undefined) {
    throw new SendenseError(
      `${description}: no identityFile in the plan and no ssh-agent (SSH_AUTH_SOCK) to authenticate with`,
    );
  }
  const { entries, missing } = readKnownHosts(spec.knownHosts);
  const hostName = knownHostName(spec.host, spec.port);
  let refusal: SendenseError | undefined;

  const config: ConnectConfig = {
    host: spec.host,
    port: spec.port,
    username: spec.user,
    privateKey,
    agent,
    readyTimeout: options.readyTimeoutMs ?? 20_000,
    keepaliveInterval: options.keepaliveIntervalMs ?? 3000,
    keepaliveCountMax: options.keepaliveCountMax ?? 3,
    algorithms: { cipher: CIPHERS, serverHostKey: hostKeyPreference(knownKeyTypes(entries, hostName)) },
    // ssh2 hands over the raw key blob; anything but a known, matching key is refused.
    hostVerifier: (key: Buffer) => {
      const verdict = checkHostKey(entries, hostName, key);
      if (verdict.status === 'trusted') return true;
      refusal = hostKeyError(verdict, { ...spec, missing }, key);
      return false;
    },
  };

  const socket = new Socket();
  socket.setNoDelay(true);
  socket.connect({ host: spec.host, port: spec.port });
  config.sock = socket;
  const client: Client = new SshClient();
  return new Promise<SshConnection>((resolve, reject) => {
    const settle = (): void => {
      client.removeListener('ready', onReady);
      client.removeListener('error', fail);
      client.removeListener('close', closed);
    };
    const fail = (error: Error & { level?: string; code?: string }): void => {
      settle();
      // What a connection given up says after this is of no interest (and must not throw).
      client.on('error', () => undefined);
      client.end();
      socket.destroy();
      reject(refusal ?? connectError(description, error, privateKey !== undefined, agent !== undefined));
    };
    // The node closes the connection before it is ready (sshd over MaxStartups, stopped, or its
    // session killed): ssh2 then says only 'close', with no error, and stops its readyTimeout; the
    // connect would wait for ever.
    const closed = (): void =>
      fail(
        new Error('the node closed the connection before the SSH handshake was done (is sshd refusing connections?)'),
      );
    const onReady = (): void => {
      settle();
      resolve({ client, socket });
    };
    client.once('ready', onReady);
    client.once('error', fail);
    client.once('close', closed);
    client.connect(config);
  });
}

// Ask for the key types known_hosts has for this host first, so a verifiable key is presented.
function hostKeyPreference(knownTypes: readonly string[]): ServerHostKeyAlgorithm[] {
  const wanted: string[] = knownTypes.flatMap((type) =>
    type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type],
  );
  const first = HOST_KEY_ALGORITHMS.filter((algorithm) => wanted.includes(algorithm));
  return [...first, ...HOST_KEY_ALGORITHMS.filter((algorithm) => !first.includes(algorithm))];
}

// The private key, checked before connecting; a passphrase-protected one needs an agent.
function readIdentity(spec: NodeSpec, description: string, haveAgent: boolean): Buffer | undefined {
  if (spec.identityFile === undefined) return undefined;
  let key: Buffer;
  try {
    key = readFileSync(spec.identityFile);
  } catch (error) {
    throw new SendenseError(
      `${description}: cannot read identityFile ${spec.identityFile}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const parsed = utils.parseKey(key);
  if (!(parsed instanceof Error)) return key;
  if (/passphrase|encrypted/i.test(parsed.message)) {
    if (haveAgent) return undefined;
    throw new SendenseError(
      `${description}: identityFile ${spec.identityFile} is protected by a passphrase: load it into ssh-agent (ssh-add ${spec.identityFile}) and set SSH_AUTH_SOCK`,
    );
  }
  throw new SendenseError(
    `${description}: identityFile ${spec.identityFile} is not a usable private key: ${parsed.message}`,
  );
}

export function connectError(
  description: string,
  error: Error & { level?: string; code?: string },
  triedKey: boolean,
  triedAgent: boolean,
): SendenseError {
  const facts = { cause: error };
  if (error.level === 'client-authentication') {
    const tried = [triedKey && 'the identityFile key', triedAgent && 'the ssh-agent keys']
      .filter(Boolean)
      .join(' and ');
    return new SendenseError(`${description}: authentication failed (tried ${tried})`, facts);
  }
  if (error.level === 'client-timeout') {
    const what = /keepalive/i.test(error.message) ? 'connection lost (keepalive timeout)' : 'timed out connecting';
    return new SendenseError(`${description}: ${what}`, facts);
  }
  if (error.code === 'ECONNREFUSED')
    return new SendenseError(`${description}: connection refused (is sshd running there?)`, facts);
  if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') {
    return new SendenseError(`${description}: host name not found`, facts);
  }
  if (error.code === 'EHOSTUNREACH' || error.code === 'ENETUNREACH' || error.code === 'ETIMEDOUT') {
    return new SendenseError(`${description}: cannot reach the node (${error.code})`, facts);
  }
  if (error.code === 'ECONNRESET')
    return new SendenseError(`${description}: connection lost (reset by the peer)`, facts);
  return new SendenseError(`${description}: ${error.message}`, facts);
}
