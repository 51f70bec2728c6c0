// virsh's questions on this host answered by one kept virsh process (src/libvirt/virsh-session.ts,
// docs/how-it-works.md#libvirt-domains): each answer exactly as the question asked in a process of
// its own gets (a failed one the same exit status and libvirt's same message), a change never
// sent there, a session killed under a run answered for all the same, and no virsh left behind
// once idle. Real virsh and libvirtd, a real (defined, never started) domain; the exec counts the
// processes it starts.

import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { virshOn, type NodeExec } from '../../src/libvirt/virsh.js';
import { closeVirshSessions } from '../../src/libvirt/virsh-session.js';
import { createLocalNode } from '../../src/node/local.js';
import { ensureLibvirtd, GUEST_PREFIX, virsh as virshSync, virshResult, waitFor } from '../support/libvirt-guest.js';
import { processStartTicks } from '../../src/process/process-identity.js';

const node = createLocalNode();
const URI = 'qemu:///system';
const DOMAIN = `${GUEST_PREFIX}session-${process.pid}`;

// virsh on this host, counting the processes it starts; `sessions`: questions may go to the kept one.
function countingVirsh(sessions: boolean) {
  const started: string[][] = [];
  const exec: NodeExec = Object.assign(
    (argv: readonly string[], options?: Parameters<NodeExec>[1]) => {
      started.push([...argv]);
      return node.exec(argv, options);
    },
    { concurrent: true, virshSessions: sessions },
  );
  return { virsh: virshOn(exec, URI), started };
}

// This process's children running virsh (the kept session is one).
function virshChildren(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === process.pid && stat.includes('(virsh)')) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

// A name with what virsh's own command-line parser would otherwise split or read as quoting.
const ODD_NAME = `no such domain 'x'; list --all "y" \\ z`;

const dir = mkdtempSync(path.join(tmpdir(), 'sendense-virsh-session-'));

// Described as startGuest describes its domains: the leftover sweep removes it if this process dies.
beforeAll(() => {
  ensureLibvirtd();
  const xml = path.join(dir, 'domain.xml');
  const owner = `owner=${process.pid}:${processStartTicks(process.pid) ?? 0} dir=${dir}`;
  writeFileSync(
    xml,
    `<domain type='qemu'><name>${DOMAIN}</name><description>sendense test guest ${owner}</description><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>`,
  );
  virshSync('define', xml);
}, 120_000);

afterAll(() => {
  closeVirshSessions();
  virshResult('undefine', DOMAIN);
  rmSync(dir, { recursive: true, force: true });
});

describe("virsh's questions on this host", () => {
  it('are answered by one kept virsh, each as a process of its own answers it', async () => {
    const questions = [
      // Not the list of domains: other test files define and remove theirs meanwhile.
      ['version', '--daemon'],
      ['domblklist', DOMAIN],
      ['domstate', DOMAIN],
      ['dumpxml', DOMAIN],
      ['dominfo', DOMAIN],
      ['checkpoint-list', DOMAIN, '--name'],
    ];
    const kept = countingVirsh(true);
    const own = countingVirsh(false);
    const answers = [];
    for (const question of questions) answers.push(await kept.virsh.attempt(question));
    const together = await kept.virsh.attemptAll(questions);
    expect(kept.started).toEqual([]);
    const alone = await Promise.all(questions.map((question) => own.virsh.attempt(question)));
    expect(own.started).toHaveLength(questions.length);
    expect(answers).toEqual(alone);
    expect(together).toEqual(alone);
    expect(answers[2]!.stdout.trim()).toBe('shut off');
    expect(answers[3]!.stdout).toContain(`<name>${DOMAIN}</name>`);
    expect(virshChildren()).toHaveLength(1);
  }, 60_000);

  it('that fail get the exit status and message of a process of their own; the others their answers', async () => {
    const questions = [
      ['domstate', DOMAIN],
      ['domstate', ODD_NAME],
      ['dumpxml', DOMAIN],
    ];
    const kept = countingVirsh(true);
    const own = countingVirsh(false);
    const together = await kept.virsh.attemptAll(questions);
    const alone = await Promise.all(questions.map((question) => own.virsh.attempt(question)));
    expect(together).toEqual(alone);
    expect(together[1]!.exitCode).toBe(1);
    expect(together[1]!.stderr).toContain(`failed to get domain '${ODD_NAME}'`);
    // libvirt's own error, as virsh says it in a process of its own: none was started.
    expect(kept.started).toEqual([]);
  }, 60_000);

  it('never carry a change: that runs in a process of its own', async () => {
    const kept = countingVirsh(true);
    await kept.virsh.attempt(['list', '--name']);
    const change = ['desc', DOMAIN, '--config', '--title', '--new-desc', 'changed by the test'];
    const changed = await kept.virsh.attempt(change);
    expect(changed.exitCode).toBe(0);
    expect(kept.started).toEqual([['virsh', '--quiet', '-c', URI, ...change]]);
    expect(virshSync('desc', DOMAIN, '--config', '--title').trim()).toBe('changed by the test');
  }, 60_000);

  it('are answered when the kept virsh was killed, and a new one is kept after', async () => {
    const kept = countingVirsh(true);
    const before = await kept.virsh.attempt(['domstate', DOMAIN]);
    const [session] = virshChildren();
    expect(session).toBeDefined();
    process.kill(session!, 'SIGKILL');
    const after = await kept.virsh.attempt(['domstate', DOMAIN]);
    expect(after).toEqual(before);
    await waitFor(() => !virshChildren().includes(session!), 30_000, 'the killed virsh to be reaped');
    expect(await kept.virsh.attempt(['domstate', DOMAIN])).toEqual(before);
    expect(virshChildren()).toHaveLength(1);
  }, 60_000);

  it('leave no virsh running once none was asked for a while', async () => {
    const kept = countingVirsh(true);
    await kept.virsh.attempt(['list', '--name']);
    expect(virshChildren()).toHaveLength(1);
    await waitFor(() => virshChildren().length === 0, 60_000, 'the idle virsh to end');
  }, 90_000);
});
