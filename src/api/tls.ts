// The API's TLS (docs/api.md#tls): the operator's certificate (hub config api.tls), else the hub's
// own self-signed one, made once by openssl in the API's state folder (key 0600) and kept, so its
// fingerprint stays what clients pinned. The fingerprint is SHA-256 as colon-separated hex pairs,
// as `openssl x509 -fingerprint -sha256` prints it.

import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { SendenseError } from '../errors.js';
import type { HubConfig } from '../hub/hub-config.js';
import { childCwd } from '../process/child-cwd.js';
import { childEnv } from '../process/child-env.js';
import { makePrivateDir } from './state-dir.js';

export interface ApiTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly certFile: string;
  /** The hub's own certificate was made just now. */
  readonly created: boolean;
  readonly selfSigned: boolean;
}

export const CERT_FILE = 'api-cert.pem';
export const KEY_FILE = 'api-key.pem';

export async function apiTls(hub: HubConfig, stateDir: string): Promise<ApiTls> {
  const given = hub.api?.tls;
  if (given) {
    const read = (file: string, what: string) => {
      try {
        return readFileSync(file);
      } catch (error) {
        throw new SendenseError(`cannot read the API's TLS ${what} ${file}: ${(error as Error).message}`);
      }
    };
    return {
      cert: read(given.cert, 'certificate'),
      key: read(given.key, 'key'),
      certFile: given.cert,
      created: false,
      selfSigned: false,
    };
  }
  const dir = makePrivateDir(stateDir);
  const certFile = path.join(dir, CERT_FILE);
  const keyFile = path.join(dir, KEY_FILE);
  let created = false;
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    await makeSelfSigned(dir, certFile, keyFile);
    created = true;
  }
  return { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, created, selfSigned: true };
}

/** SHA-256 of the certificate's DER, "AB:CD:…". */
export function certificateFingerprint(pem: Buffer | string): string {
  return new X509Certificate(pem).fingerprint256;
}

// Written under temporary names, then renamed: a kill never leaves a key without its certificate.
async function makeSelfSigned(dir: string, certFile: string, keyFile: string): Promise<void> {
  const name = hostname();
  const tmpCert = path.join(dir, `.${CERT_FILE}.${process.pid}`);
  const tmpKey = path.join(dir, `.${KEY_FILE}.${process.pid}`);
  const altNames = [`DNS:${name}`, 'DNS:localhost', 'IP:127.0.0.1', 'IP:::1'].join(',');
  try {
    await execa(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '3650',
        '-subj',
        `/CN=${name}`,
        '-addext',
        `subjectAltName=${altNames}`,
        '-keyout',
        tmpKey,
        '-out',
        tmpCert,
      ],
      // The folder is 0700 (nobody else reaches the key before its chmod).
      { env: childEnv(), extendEnv: false, cwd: childCwd(), stdin: 'ignore' },
    );
    chmodSync(tmpKey, 0o600);
    renameSync(tmpKey, keyFile);
    renameSync(tmpCert, certFile);
  } catch (error) {
    rmSync(tmpCert, { force: true });
    rmSync(tmpKey, { force: true });
    const why =
      (error as { code?: string }).code === 'ENOENT'
        ? 'openssl is not installed (Debian: apt install openssl)'
        : ((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
    throw new SendenseError(`cannot make the API's self-signed certificate in ${dir}: ${why}`);
  }
}
