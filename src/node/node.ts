// Where commands run: this host (local.ts) or a node reached over SSH (ssh.ts), behind one
// interface so steps never care which.

import type { Duplex } from 'node:stream';
import type { SendenseError } from '../errors.js';
import type { ImageSecret } from '../qemu/image-secret.js';

export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Extra environment variables (never put secrets in argv: use env). */
  readonly env?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  /**
   * Bytes for the program's stdin, after which stdin is closed: all at once, or streamed (a file
   * sent to a copy, docs/copies.md), pushed as fast as the program takes them.
   */
  readonly stdin?: Uint8Array | AsyncIterable<Uint8Array>;
  /** A repository secret for qemu on fd 3 (qemu/image-secret.ts): this host only, the repository's. */
  readonly secret?: ImageSecret;
}

/** A long-running program on the node (the node transfer). */
export interface NodeProcess {
  /** PID on the node (local PID for this host); undefined when the remote side does not tell. */
  readonly pid: number | undefined;
  /** Called for each complete line the program prints on stdout. */
  onStdoutLine(listener: (line: string) => void): void;
  /** Everything it printed on stderr so far (kept for error messages, bounded). */
  stderrText(): string;
  /** Resolves with the exit code (or null when it ended by a signal / the channel dropped). */
  readonly exited: Promise<{ readonly exitCode: number | null; readonly signal: string | null }>;
  /** Ask it to stop: closes its stdin (the node transfer's stop signal), then SIGTERM, then SIGKILL. */
  stop(graceMs?: number): Promise<void>;
  /** Write to its stdin, which stays open (control lines to the node transfer, docs/bandwidth.md). */
  readonly write?: (text: string) => void;
}

export interface PortForwards {
  /** hub port -> node port that reaches it (usually the same number). */
  readonly nodePorts: ReadonlyMap<number, number>;
  /** Close every forward (idempotent). */
  close(): Promise<void>;
  /** Hears the connection carrying the forwards being lost (the node's ports stop answering); none on this host. */
  onLost?(listener: (error: SendenseError) => void): void;
}

export interface SocketForwards {
  /** hub socket -> the socket on the node that reaches it (the same path on this host). */
  readonly nodeSockets: ReadonlyMap<string, string>;
  /** Close every forward and remove the node's directory of them (idempotent). */
  close(): Promise<void>;
  /** Hears the connection carrying the forwards being lost; none on this host. */
  onLost?(listener: (error: SendenseError) => void): void;
}

/** The identity of this host in the state database ('this host': the value databases already hold). */
export const LOCAL_NODE_ID = 'this host';

export interface NodeHost {
  /** For messages: "this host" or "sendense@10.0.100.231:22". */
  readonly description: string;
  /**
   * Who the node is, as the state database records it (the node a bitmap was added on, a file
   * left on): LOCAL_NODE_ID for this host, user@host:port for a node. Never reworded for display.
   */
  readonly id: string;
  readonly isLocal: boolean;
  /** Run a command (argv, no shell) and collect its output. Never throws for a non-zero exit. */
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /** Start a long-running command (argv, no shell) with stdin kept open as a lifeline. */
  spawn(argv: readonly string[], options?: ExecOptions): NodeProcess;
  /**
   * Make 127.0.0.1:<port> on the node reach 127.0.0.1:<port> on the hub, for exactly these ports.
   * When a port is taken on the node, another free node port is used instead: `nodePorts` maps
   * each hub port to the node port to use in the NBD targets string. This host: identity map.
   * `sockets`: hub port -> the Unix socket the hub's server listens on instead of that port (the
   * forward reaches it there; docs/how-it-works.md#the-data-path).
   */
  forwardPorts(ports: readonly number[], sockets?: ReadonlyMap<number, string>): Promise<PortForwards>;
  /**
   * Make each Unix socket of the hub reachable from a Unix socket on the node, in a private (0700)
   * directory there: no other user of the node can connect (docs/how-it-works.md#the-data-path).
   * This host: each socket is its own.
   */
  forwardSockets(hubSockets: readonly string[]): Promise<SocketForwards>;
  /** A stream to a Unix socket on the node (a replica's qemu-nbd): this host connects, SSH forwards it (streamlocal). */
  connectUnixSocket(path: string): Promise<Duplex>;
  /** The argv prefix that runs the node transfer there (installing or updating it if needed). */
  transferCommand(): Promise<readonly string[]>;
  /** Close the connection (no-op for this host). */
  close(): Promise<void>;
}
