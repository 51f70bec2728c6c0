// One live SSH connection to a node and what became of it: every channel, forward and upload
// goes through here, so a lost link is noticed once and reported the same way everywhere.

import type { Socket } from 'node:net';
import type { Client, ClientChannel, SFTPWrapper } from 'ssh2';
import { SendenseError } from '../errors.js';
import { connectError } from './ssh-connect.js';

export class SshLink {
  private lostError: SendenseError | undefined;
  private readonly lostListeners = new Set<(error: SendenseError) => void>();
  private closing = false;

  constructor(
    readonly client: Client,
    private readonly socket: Socket,
    readonly description: string,
  ) {
    client.on('error', (error: Error & { level?: string; code?: string }) => {
      this.markLost(connectError(description, error, false, false), error);
    });
    client.on('close', () => {
      this.markLost(new SendenseError(`${description}: connection lost (closed by the node)`));
    });
  }

  /** The reason the link is gone, or undefined while it is up. */
  get lost(): SendenseError | undefined {
    return this.lostError;
  }

  // Calls back once when the link goes (at once if it already has); returns an unsubscribe.
  onLost(listener: (error: SendenseError) => void): () => void {
    if (this.lostError) {
      listener(this.lostError);
      return () => {};
    }
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  assertUp(): void {
    if (this.lostError) throw this.lostError;
  }

  openExec(command: string): Promise<ClientChannel> {
    this.assertUp();
    return new Promise((resolve, reject) => {
      this.client.exec(command, (error, channel) => {
        if (error)
          reject(this.lostError ?? new SendenseError(`${this.description}: cannot start a command: ${error.message}`));
        else resolve(channel);
      });
    });
  }

  // A channel to a Unix socket on the node (OpenSSH's direct-streamlocal@openssh.com).
  openStreamLocal(path: string): Promise<ClientChannel> {
    this.assertUp();
    return new Promise((resolve, reject) => {
      this.client.openssh_forwardOutStreamLocal(path, (error, channel) => {
        if (error)
          reject(
            this.lostError ??
              new SendenseError(
                `${this.description}: cannot reach ${path} (is AllowStreamLocalForwarding enabled in the node's sshd?): ${error.message}`,
              ),
          );
        else resolve(channel);
      });
    });
  }

  openSftp(): Promise<SFTPWrapper> {
    this.assertUp();
    return new Promise((resolve, reject) => {
      this.client.sftp((error, sftp) => {
        if (error)
          reject(this.lostError ?? new SendenseError(`${this.description}: cannot open SFTP: ${error.message}`));
        else resolve(sftp);
      });
    });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => {
      if (this.lostError) resolve();
      else this.client.once('close', () => resolve());
    });
    this.client.end();
    // On a dead link the goodbye is never answered: drop the socket rather than wait for TCP.
    const timer = setTimeout(() => this.socket.destroy(), 2000);
    await closed;
    clearTimeout(timer);
  }

  private markLost(error: SendenseError, cause?: Error): void {
    if (this.lostError) return;
    this.lostError = this.closing ? new SendenseError(`${this.description}: connection closed`, { cause }) : error;
    for (const listener of this.lostListeners) listener(this.lostError);
    this.lostListeners.clear();
  }
}
