// TLS to vSphere with the server's certificate pinned by its SHA-256 fingerprint, as SSH pins host
// keys (docs/vmware.md#the-certificate): a socket reaches the HTTP client only once the fingerprint
// matched, so nothing (a password, a session cookie) is written to a server not trusted.

import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { SendenseError } from '../errors.js';

/** A fingerprint as Node and OpenSSL print it: 32 bytes in upper-case hex, colon-separated. */
export const FINGERPRINT_PATTERN = /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/;

// "ab cd…", "AB:CD…" or "abcd…" read as "AB:CD:…"; undefined when it is not 32 bytes of hex.
export function normalFingerprint(text: string): string | undefined {
  const hex = text
    .replace(/^sha256:/i, '')
    .replace(/[:\s]/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}

/** Where the fingerprint to trust comes from, for the line that says how to trust another. */
export interface CertificatePin {
  readonly sha256: string | undefined;
  /** How to trust a certificate, e.g. `vm.source.certificateSha256: "…"`. */
  readonly trustLine: (fingerprint: string) => string;
}

export function certificateRefusal(where: string, seen: string, pin: CertificatePin): SendenseError {
  const trust = pin.trustLine(seen);
  if (pin.sha256 === undefined)
    return new SendenseError(
      `the TLS certificate of ${where} is not trusted yet: its SHA-256 fingerprint is ${seen}; if that is your vSphere server's, trust it with ${trust}`,
    );
  return new SendenseError(
    `the TLS certificate of ${where} changed: its SHA-256 fingerprint is ${seen}, not the trusted ${pin.sha256}; if the change is expected, trust it with ${trust}`,
  );
}

// An agent whose connections are checked before use; kept alive, so a check is made once per connection.
export function pinnedAgent(pin: CertificatePin, maxSockets = 16): https.Agent {
  const agent = new https.Agent({ keepAlive: true, maxSockets });
  const connect = (
    options: tls.ConnectionOptions,
    callback: (error: Error | null, socket?: Duplex) => void,
  ): undefined => {
    const servername = options.host !== undefined && !/^[0-9.:[\]]+$/.test(options.host) ? options.host : undefined;
    const socket = tls.connect({ ...options, servername, rejectUnauthorized: false });
    const fail = (error: Error): void => callback(error);
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      socket.off('error', fail);
      const seen = socket.getPeerCertificate().fingerprint256;
      if (pin.sha256 !== undefined && seen === pin.sha256) return callback(null, socket);
      socket.destroy();
      callback(certificateRefusal(`${options.host}:${options.port}`, seen, pin));
    });
    return undefined;
  };
  // http.Agent hands the socket to the request when the callback is called (createConnection returning nothing).
  (agent as unknown as { createConnection: typeof connect }).createConnection = connect;
  return agent;
}
