// Keeps an SSH node usable after its link drops: the next command opens a fresh connection (once),
// first stopping what the lost link left running there, so a failed run can still give back what
// it took on the node (its new bitmaps, a half-restored file) instead of leaving it behind.

import { SendenseError } from '../errors.js';
import type { ExecOptions, ExecResult, NodeProcess } from './node.js';
import { SshForwarder } from './ssh-forwards.js';
import type { SshLink } from './ssh-link.js';
import { SshCommandSession } from './ssh-command-session.js';
import { execOverSsh, spawnOverSsh } from './ssh-process.js';

/** How long a reconnect may take: a node that is really gone must not hold the cleanup long. */
export const RECONNECT_TIMEOUT_MS = 5000;

// TERM each PID, wait up to 5 s for all to be gone (the node transfer stops its qemu-nbd first), then KILL.
const REAP_SCRIPT = [
  'for p in "$@"; do kill -TERM "$p" 2>/dev/null; done',
  'i=0; while [ $i -lt 50 ]; do alive=; for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done',
  '[ -z "$alive" ] && exit 0; sleep 0.1; i=$((i+1)); done',
  'for p in "$@"; do kill -KILL "$p" 2>/dev/null; done',
].join('\n');

interface Spawned {
  readonly link: SshLink;
  readonly child: NodeProcess;
}

export class SshLinkKeeper {
  private forwarder: SshForwarder;
  private reopening: Promise<SshLink> | undefined;
  private gaveUp: SendenseError | undefined;
  private closed = false;
  private readonly spawned = new Set<Spawned>();
  private session: SshCommandSession | undefined;

  constructor(
    private link: SshLink,
    private readonly reconnect: () => Promise<SshLink>,
  ) {
    this.forwarder = new SshForwarder(link);
  }

  /** The current connection (possibly lost: use live() to get one that works). */
  get current(): SshLink {
    return this.link;
  }

  get forwards(): SshForwarder {
    return this.forwarder;
  }

  // A short command with nothing to send it goes through the link's command session when that is
  // free (docs/how-it-works.md#commands-on-a-node); one with input, or while it is busy, on its own channel.
  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const link = await this.live();
    if (options.stdin !== undefined || options.env !== undefined || options.secret !== undefined)
      return execOverSsh(link, argv, options);
    if (this.session?.link !== link || !this.session.idle) {
      if (this.session?.link === link && !this.session.dead) return execOverSsh(link, argv, options);
      this.session = new SshCommandSession(link);
    }
    return this.session.run(argv, options.signal);
  }

  // A long-running program on the current link, remembered until it reports how it ended.
  spawn(argv: readonly string[], options?: ExecOptions): NodeProcess {
    const entry: Spawned = { link: this.link, child: spawnOverSsh(this.link, argv, options) };
    this.spawned.add(entry);
    void entry.child.exited.then((status) => {
      if (status.exitCode !== null || status.signal !== null) this.spawned.delete(entry);
    });
    return entry.child;
  }

  // The link if it is up; after a loss, one new connection shared by every caller.
  async live(): Promise<SshLink> {
    if (!this.link.lost) return this.link;
    if (this.closed) throw this.link.lost;
    if (this.gaveUp) throw this.gaveUp;
    this.reopening ??= this.reopen();
    return this.reopening;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.session?.close();
    await this.reopening?.catch(() => undefined);
    await this.link.close();
  }

  private async reopen(): Promise<SshLink> {
    const lost = this.link.lost!;
    let link: SshLink;
    try {
      link = await this.reconnect();
    } catch (error) {
      this.gaveUp = new SendenseError(`${lost.message}; reconnecting failed: ${(error as Error).message}`, {
        cause: error,
      });
      throw this.gaveUp;
    }
    this.link = link;
    this.forwarder = new SshForwarder(link);
    this.reopening = undefined;
    await this.reapOrphans(link);
    return link;
  }

  // Programs whose channel died with the old link may still run (and hold images open) there.
  private async reapOrphans(link: SshLink): Promise<void> {
    const orphans = [...this.spawned].filter((entry) => entry.link.lost && entry.child.pid !== undefined);
    for (const entry of orphans) this.spawned.delete(entry);
    if (orphans.length === 0) return;
    const pids = orphans.map((entry) => String(entry.child.pid));
    await execOverSsh(link, ['sh', '-c', REAP_SCRIPT, 'sendense-reap', ...pids]).catch(() => undefined);
  }
}
