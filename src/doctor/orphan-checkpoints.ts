// sendense-run's checkpoints no chain continues from, on every domain runs took checkpoints on
// (docs/how-it-works.md#checkpoints-on-a-domain): a point forgotten, a chain retired or left behind
// by a failover keeps QEMU tracking every write for nothing. Reported always, deleted only with
// --remove-orphaned-checkpoints; another tool's checkpoints are never touched, nor one on a domain
// a live run holds.

import { domainCheckpoints } from '../checkpoints/domain-checkpoints.js';
import { LOCAL_NODE_ID } from '../node/node.js';
import type { CheckpointDomain } from '../store/index.js';
import { reach } from './node-resources.js';
import type { DoctorContext, Sweeper } from './sweeper.js';

export const orphanCheckpointsSweeper: Sweeper = {
  name: 'orphan checkpoints',
  tables: [],
  async sweep(doctor) {
    const domains = new Map<string, CheckpointDomain[]>();
    for (const row of await doctor.store.checkpointDomains()) {
      const key = `${row.node}\0${row.uri}\0${row.domain}`;
      domains.set(key, [...(domains.get(key) ?? []), row]);
    }
    for (const rows of domains.values()) await sweepDomain(doctor, rows);
  },
};

// `rows`: one domain, once per VM name plans gave it.
async function sweepDomain(doctor: DoctorContext, rows: readonly CheckpointDomain[]): Promise<void> {
  const { node, uri, domain } = rows[0]!;
  const where = node === LOCAL_NODE_ID ? '' : ` on ${node}`;
  const newest = [...rows].sort((a, b) => a.seenAt.localeCompare(b.seenAt)).at(-1)!;
  const host = await reach(doctor, node, newest.nodeSpec);
  if (typeof host === 'string') {
    doctor.report(`checkpoints of domain ${domain}${where}`, `could not reach ${node} (${host}): not checked`);
    return;
  }
  try {
    const found = await domainCheckpoints(doctor.store, host, { uri, domain }).catch(
      (error: unknown) => error as Error,
    );
    if (found instanceof Error) {
      // A domain undefined since (the VM deleted) has no checkpoints left to orphan.
      if (!/does not exist/.test(found.message))
        doctor.report(`checkpoints of domain ${domain}${where}`, `could not list them: ${found.message}`);
      return;
    }
    const holder = await liveHolder(doctor, rows);
    for (const checkpoint of found.checkpoints.filter((each) => each.state === 'orphaned')) {
      const what = `orphaned checkpoint ${checkpoint.name} of domain ${domain}${where} (${checkpoint.why})`;
      if (!doctor.consent.removeOrphanedCheckpoints)
        doctor.report(what, 'left: sendense-run doctor --remove-orphaned-checkpoints deletes it');
      else if (holder !== undefined) doctor.report(what, `left: ${holder} holds the VM; run doctor again when it ends`);
      else await doctor.act(what, 'delete it', () => found.remove(checkpoint.name));
    }
  } finally {
    if (host !== doctor.local) await host.close();
  }
}

// A live run holding one of the domain's VMs may be taking a checkpoint there right now.
async function liveHolder(doctor: DoctorContext, rows: readonly CheckpointDomain[]): Promise<string | undefined> {
  const vms = new Set(rows.map((row) => row.vm));
  for (const lock of await doctor.store.listVmLocks())
    if (vms.has(lock.vm) && (await doctor.isLive(lock.runId))) return `run ${lock.runId} of plan ${lock.plan}`;
  return undefined;
}
