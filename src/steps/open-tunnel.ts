// open-tunnel: make exactly the leased ports reachable as 127.0.0.1:<port> on the node; each
// reaches the disk's qemu-nbd on the hub, at its port or its Unix socket (start-qemu-nbd).

import { leasedDisks } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import type { ServingRun } from './serving-run.js';

export const openTunnel: Step<ServingRun> = {
  name: 'open-tunnel',
  title: (run) => `forward ${run.state.disks.length} port(s) to ${run.node.description}`,
  skip: (run) => {
    if (!run.node.isLocal) return undefined;
    for (const disk of run.state.disks) disk.nodePort = disk.port;
    return 'the node is this host';
  },
  async run(run) {
    const disks = leasedDisks(run.state.disks);
    const sockets = new Map(disks.flatMap((disk) => (disk.socket === undefined ? [] : [[disk.port, disk.socket] as const])));
    const forwards = await run.node.forwardPorts(
      disks.map((disk) => disk.port),
      sockets,
    );
    run.undo.push({ what: `close the tunnel to ${run.node.description}`, when: 'always', step: 'open-tunnel', run: () => forwards.close() });
    for (const disk of disks) disk.nodePort = forwards.nodePorts.get(disk.port) ?? disk.port;
    return run.state.disks.map((disk) => `node 127.0.0.1:${disk.nodePort} -> hub ${disk.socket ?? `127.0.0.1:${disk.port}`}`).join(', ');
  },
  would(run) {
    const node = run.plan.node;
    if (node === undefined) return 'nothing to do (the node is this host)';
    return `SSH to ${run.node.description} (host key checked against ${node.knownHosts}), forward the leased ports`;
  },
};
