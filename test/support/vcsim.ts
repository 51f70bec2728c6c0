// govmomi's vSphere simulator (vcsim) for the VMware tests: VMware itself is FAKED here. Built once
// per machine from Debian's golang-github-vmware-govmomi-dev source with Debian's Go (GOPATH mode,
// offline: no module download) into ~/.cache/sendense-run/vcsim-<version>-<hash of main.go>
// (vcsim-build.ts: under a lock, bounded by its progress), then started on
// 127.0.0.1 with a TLS certificate made for the test (test/support/vcsim/main.go makes one VM whose
// disks are flat vmdk files in the simulator's datastore directory).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { beforeAll } from 'vitest';
import { buildVcsim } from './vcsim-build.js';

const GOVMOMI_SOURCE = '/usr/share/gocode/src/github.com/vmware/govmomi';

export interface VcsimDisk {
  readonly key: number;
  readonly fileName: string;
  /** The flat data file on this host (in the simulator's datastore directory). */
  readonly flat: string;
  readonly capacity: number;
  /** The descriptor file on this host, and its text as made. */
  readonly descriptor: string;
  readonly descriptorText: string;
}

export interface Vcsim {
  /** host:port of the SDK */
  readonly endpoint: string;
  readonly datastoreDir: string;
  readonly vm: string;
  readonly vmPath: string;
  readonly disks: readonly VcsimDisk[];
  readonly pid: number;
  /**
   * Writes back descriptors vcsim deleted: removing one of two snapshots there deletes files of the
   * VM's layout that share a key with the snapshot's (a simulator bug, not vSphere's behaviour).
   */
  repairDescriptors(): void;
  stop(): Promise<void>;
}

/** Why the simulator cannot be built here (Go or govmomi's source missing), or undefined. */
export function vcsimMissing(): string | undefined {
  if (!existsSync(GOVMOMI_SOURCE)) return `no ${GOVMOMI_SOURCE} (apt install golang-github-vmware-govmomi-dev)`;
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
  } catch {
    return 'no go (apt install golang-go)';
  }
  return undefined;
}

// Registers a hook, first in the file, that has the binary built (or waits for another file's
// build): bounded by the build's progress (vcsim-build.ts), not by a hook timeout, which a build
// on a loaded machine outlasted. The file's own hooks then start the simulator in seconds.
export function buildVcsimFirst(): void {
  beforeAll(async () => {
    const missing = vcsimMissing();
    if (missing !== undefined)
      throw new Error(
        `the simulated vSphere needs Go and govmomi's source: ${missing} (scripts/setup.sh installs them)`,
      );
    await buildVcsim();
  }, 0);
}

/** A certificate and key for 127.0.0.1 (the simulator and the proxy in front of it share them). */
export function makeCertificate(dir: string): { cert: string; key: string; sha256: string } {
  const cert = path.join(dir, 'vcsim-cert.pem');
  const key = path.join(dir, 'vcsim-key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const sha256 = /=([0-9A-F:]+)$/m.exec(
    execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', cert], { encoding: 'utf8' }).trim(),
  )![1]!;
  return { cert, key, sha256 };
}

export interface VcsimOptions {
  readonly cert: string;
  readonly key: string;
  readonly username: string;
  readonly password: string;
  /** disk key -> capacity in bytes */
  readonly disks: ReadonlyMap<number, number>;
  readonly cbt?: boolean;
}

export async function startVcsim(options: VcsimOptions): Promise<Vcsim> {
  const args = [
    '-cert',
    options.cert,
    '-key',
    options.key,
    '-username',
    options.username,
    '-disks',
    [...options.disks].map(([key, size]) => `${key}=${size}`).join(','),
  ];
  if (options.cbt === false) args.push('-cbt=false');
  // The password reaches it in its environment, as our own programs take secrets.
  const child: ChildProcess = spawn(await buildVcsim(), args, {
    env: { ...process.env, VCSIM_PASSWORD: options.password },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`vcsim exited ${code}: ${stderr}`)));
  });
  const made = JSON.parse(line) as {
    url: string;
    datastoreDir: string;
    vm: string;
    vmPath: string;
    disks: VcsimDisk[];
  };
  return {
    endpoint: new URL(made.url).host,
    datastoreDir: made.datastoreDir,
    vm: made.vm,
    vmPath: made.vmPath,
    disks: made.disks,
    pid: child.pid!,
    repairDescriptors() {
      for (const disk of made.disks)
        if (!existsSync(disk.descriptor)) writeFileSync(disk.descriptor, disk.descriptorText);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin!.end();
      }),
  };
}
