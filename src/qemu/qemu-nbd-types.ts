// What a started qemu-nbd is and takes (./qemu-nbd.ts starts it, ./qemu-nbd-process.ts watches it).

import type { ImageSecret } from './image-secret.js';

export interface QemuNbdOptions {
  readonly file: string;
  readonly format: 'qcow2' | 'raw';
  /** TCP port on 127.0.0.1; or give `socket`. */
  readonly port?: number;
  readonly socket?: string;
  readonly exportName: string;
  /** --shared: how many clients at once (the node transfer opens several connections). */
  readonly shared: number;
  readonly readOnly: boolean;
  /** -B: offer qemu:dirty-bitmap:<bitmap> to clients. */
  readonly bitmap?: string;
  /** --discard=unmap: a WRITE_ZEROES punches holes, so a written image stays sparse. */
  readonly discard?: 'unmap';
  /** --cache (qemu default: writeback). */
  readonly cache?: 'none' | 'writeback' | 'writethrough' | 'directsync' | 'unsafe';
  /**
   * --persistent, default true: without it qemu-nbd exits when the last negotiated client
   * disconnects (a probe with nbdinfo, a transfer reconnecting), which would look like a crash.
   */
  readonly persistent?: boolean;
  /**
   * NBD TLS with a pre-shared key (docs/instant-recovery.md#serving-on-a-port): the directory
   * holding keys.psk (`USER:HEXKEY`, 0600); a client without that key is refused before any option.
   */
  readonly tlsPskDir?: string;
  /** The secret of an encrypted image named by a json: filename (a qcow2 file's own is found by itself). */
  readonly secret?: ImageSecret;
  /** Writes through QEMU's compress filter (docs/encryption.md#compression): whole clusters, each written once. */
  readonly compress?: boolean;
  /** How long to wait for the first NBD greeting. Default 10 s. */
  readonly readyTimeoutMs?: number;
  /**
   * Runs under `setpriv --pdeathsig KILL` where this host has setpriv: the kernel ends it when
   * this process ends, even killed outright (all but a death in the instant before setpriv sets
   * the signal). For a qemu-nbd whose life is this process's (the node transfer's own); never for
   * one that must outlive a crash until doctor finds it.
   */
  readonly diesWithUs?: boolean;
  /**
   * Called as soon as the process exists, before it is ready: record it (and its undo) here.
   * startTicks is undefined when it has already exited.
   */
  readonly onSpawn?: (pid: number, argv: readonly string[], startTicks: number | undefined) => void | Promise<void>;
}

export interface QemuNbdExit {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Whether stop() asked for it. */
  readonly requested: boolean;
  readonly stderr: string;
}

export interface QemuNbd {
  readonly pid: number;
  readonly argv: readonly string[];
  /** nbd://127.0.0.1:PORT/NAME or nbd+unix:///NAME?socket=PATH */
  readonly url: string;
  readonly port?: number;
  readonly socket?: string;
  readonly exportName: string;
  stderrText(): string;
  readonly exited: Promise<QemuNbdExit>;
  /** Called once when it exits, whether asked to or not (the engine fails the run if not). */
  onExit(listener: (exit: QemuNbdExit) => void): void;
  /** SIGTERM to this PID, wait up to timeoutMs, then SIGKILL. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}
