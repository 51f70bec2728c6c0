// One qemu-nbd serving one image on 127.0.0.1 (or a Unix socket): started, ready when it
// answers an NBD greeting, watched for an early death, stopped by its PID.

import type { ImageSecret } from './image-secret.js';
import { SendenseError } from '../errors.js';
import { qemuNbdImageArgs } from './image-opts.js';
import { isProcessAlive, processListensOn, processStartTicks } from '../process/index.js';
import { readNbdGreeting, type NbdAddress } from './nbd-greeting.js';
import { qemuNbdHandle, sleep, spawnQemuNbd, WatchedChild } from './qemu-nbd-process.js';
import type { QemuNbdOptions, QemuNbdExit, QemuNbd } from './qemu-nbd-types.js';
export type { QemuNbdOptions, QemuNbdExit, QemuNbd } from './qemu-nbd-types.js';

const TLS_ID = 'sendense-tls';

function validateOptions(options: QemuNbdOptions): void {
  if ((options.port === undefined) === (options.socket === undefined)) {
    throw new Error('startQemuNbd: give exactly one of port and socket');
  }
  if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)) {
    throw new Error(`startQemuNbd: bad port ${options.port}`);
  }
  if (!Number.isInteger(options.shared) || options.shared < 1)
    throw new Error(`startQemuNbd: bad shared ${options.shared}`);
  if (options.exportName === '') throw new Error('startQemuNbd: empty export name');
}

export function qemuNbdArgv(options: QemuNbdOptions): string[] {
  return qemuNbdCommand(options).argv;
}

// The argv, and the secret an encrypted image needs on fd 3 (image-secret.ts).
function qemuNbdCommand(options: QemuNbdOptions): { readonly argv: string[]; readonly secret?: ImageSecret } {
  const image = qemuNbdImageArgs(options.file, options.format, { compress: options.compress, secret: options.secret });
  const argv = [
    'qemu-nbd',
    `--export-name=${options.exportName}`,
    `--shared=${options.shared}`,
    // Never the wildcard address (docs/how-it-works.md#safety-rules): the node reaches it through the SSH tunnel.
    ...(options.socket !== undefined ? [`--socket=${options.socket}`] : ['--bind=127.0.0.1', `--port=${options.port}`]),
    ...(options.readOnly ? ['--read-only'] : []),
    ...(options.bitmap !== undefined ? [`--bitmap=${options.bitmap}`] : []),
    ...(options.cache !== undefined ? [`--cache=${options.cache}`] : []),
    ...(options.discard !== undefined ? [`--discard=${options.discard}`] : []),
    ...(options.persistent === false ? [] : ['--persistent']),
    ...(options.tlsPskDir !== undefined
      ? ['--object', `tls-creds-psk,id=${TLS_ID},endpoint=server,dir=${options.tlsPskDir}`, `--tls-creds=${TLS_ID}`]
      : []),
    // A qcow2 with small L2 caches, whatever its size (image-opts.ts).
    ...image.args,
  ];
  return { argv, secret: image.secret };
}

function oneLine(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/^qemu-nbd: /, '').trim())
    .filter(Boolean)
    .join('; ');
}

export async function startQemuNbd(options: QemuNbdOptions): Promise<QemuNbd> {
  validateOptions(options);
  const { argv, secret } = qemuNbdCommand(options);
  const where = options.socket !== undefined ? `socket ${options.socket}` : `127.0.0.1:${options.port}`;
  const address: NbdAddress =
    options.socket !== undefined ? { socket: options.socket } : { host: '127.0.0.1', port: options.port! };
  const url =
    options.socket !== undefined
      ? `nbd+unix:///${options.exportName}?socket=${options.socket}`
      : `nbd://127.0.0.1:${options.port}/${options.exportName}`;
  const watched = new WatchedChild(spawnQemuNbd(argv, secret, options.diesWithUs === true));
  const { child, exited } = watched;
  const failure = (result: QemuNbdExit) => exitFailure(options, where, child.pid, result);
  const handle = qemuNbdHandle(options, argv, url, watched);

  if (child.pid === undefined) throw failure(await exited);
  try {
    await options.onSpawn?.(child.pid, handle.argv, processStartTicks(child.pid));
    await waitUntilReady(options, where, address, watched, failure);
  } catch (error) {
    // Already dead (a zombie not yet reaped): let its own exit arrive before stop() claims it.
    if (watched.exit === undefined && !isProcessAlive(child.pid)) await Promise.race([exited, sleep(1000)]);
    await handle.stop();
    // When it died on its own, what qemu-nbd said is the real story (not a failed onSpawn).
    if (watched.exit !== undefined && !watched.exit.requested) throw failure(watched.exit);
    throw error;
  }
  return handle;
}

// Why it could not start or serve, in qemu-nbd's own words where it said any.
function exitFailure(
  options: QemuNbdOptions,
  where: string,
  pid: number | undefined,
  result: QemuNbdExit,
): SendenseError {
  if (pid === undefined) return new SendenseError(`cannot start qemu-nbd for ${options.file}: ${result.stderr}`);
  if (/Address already in use/i.test(result.stderr)) {
    return new SendenseError(`qemu-nbd for ${options.file} cannot listen on ${where}: the port is already in use`);
  }
  const how = result.signal !== null ? `signal ${result.signal}` : `code ${result.exitCode}`;
  return new SendenseError(
    `qemu-nbd for ${options.file} on ${where} exited (${how}): ${oneLine(result.stderr) || 'no output'}`,
  );
}

// Ready once it greets (and, on a port, it is qemu-nbd that listens there); its exit ends the wait.
async function waitUntilReady(
  options: QemuNbdOptions,
  where: string,
  address: NbdAddress,
  watched: WatchedChild,
  failure: (result: QemuNbdExit) => SendenseError,
): Promise<void> {
  const { child, exited } = watched;
  const timeoutMs = options.readyTimeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (watched.exit !== undefined) throw failure(watched.exit);
    const greeted = await Promise.race([readNbdGreeting(address, 500), exited.then(() => false)]);
    if (watched.exit !== undefined) throw failure(watched.exit);
    if (greeted && (options.port === undefined || processListensOn(child.pid!, options.port) !== false)) return;
    if (Date.now() > deadline) {
      throw new SendenseError(
        `qemu-nbd for ${options.file} on ${where} did not accept NBD connections within ${timeoutMs / 1000} s`,
      );
    }
    await Promise.race([sleep(10), exited]);
  }
}
