// Turns NBD error numbers and lost connections into one clear SendenseError each.

import { SendenseError } from '../errors.js';

// proto.md "Error values": the errno-like values a server may send.
const ERRNO_NAMES: Readonly<Record<number, string>> = Object.freeze({
  1: 'EPERM (operation not permitted)',
  5: 'EIO (input/output error)',
  12: 'ENOMEM (out of memory)',
  22: 'EINVAL (invalid argument)',
  28: 'ENOSPC (no space left on device)',
  75: 'EOVERFLOW (value too large)',
  95: 'ENOTSUP (not supported)',
  108: 'ESHUTDOWN (server is shutting down)',
});

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `error ${errno}`;
}

// A request the server answered with an error: which command, where, and what the server said.
export function serverRequestError(
  where: string,
  command: string,
  offset: number,
  length: number,
  errno: number,
  serverMessage = '',
): SendenseError {
  const detail = serverMessage ? `: ${serverMessage}` : '';
  return new SendenseError(
    `NBD ${command} at offset ${offset} (${length} bytes) failed on ${where}: ${errnoName(errno)}${detail}`,
  );
}

export function connectionLostError(where: string, cause?: unknown): SendenseError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new SendenseError(`NBD connection to ${where} lost${reason}`, { cause });
}

// The server broke the protocol: a bug on one side, but the operator must still see where.
export function protocolError(where: string, message: string): SendenseError {
  return new SendenseError(`NBD protocol error from ${where}: ${message}`);
}
