// open-tunnel: make each disk's qemu-nbd on the hub reachable from the node. A disk served on a
// Unix socket (start-qemu-nbd) is reached from a Unix socket in a private directory on the node,
// which no other user there can open; the VMware client (it takes ports) and a disk served on a
// port get exactly the leased ports on the node's 127.0.0.1 (docs/how-it-works.md#the-data-path).

import { leasedDisks } from '../engine/run-context.js';
import type { Step } from '../engine/step.js';
import type { ServingRun } from './serving-run.js';

export const openTunnel: Step<ServingRun> = {
  name: 'open-tunnel',
  title: (run) => `forward ${run.state.disks.length} disk(s) to ${run.node.description}`,
  skip: (run) => {
    if (!run.node.isLocal) return undefined;
    for (const disk of run.state.disks) {
      disk.nodePort = disk.port;
      disk.nodeSocket = disk.socket;
    }
    return 'the node is this host';
  },
  async run(run) {
    const disks = leasedDisks(run.state.disks);
    const bySocket = run.wholeVm === true ? [] : disks.filter((disk) => disk.socket !== undefined);
    const byPort = disks.filter((disk) => !bySocket.includes(disk));
    if (bySocket.length > 0) {
      const forwards = await run.node.forwardSockets(bySocket.map((disk) => disk.socket!));
      run.undo.push({
        what: `close the socket tunnel to ${run.node.description}`,
        when: 'always',
        step: 'open-tunnel',
        run: () => forwards.close(),
      });
      for (const disk of bySocket) disk.nodeSocket = forwards.nodeSockets.get(disk.socket!);
    }
    if (byPort.length > 0) {
      const sockets = new Map(
        byPort.flatMap((disk) => (disk.socket === undefined ? [] : [[disk.port, disk.socket] as const])),
      );
      const forwards = await run.node.forwardPorts(
        byPort.map((disk) => disk.port),
        sockets,
      );
      run.undo.push({
        what: `close the tunnel to ${run.node.description}`,
        when: 'always',
        step: 'open-tunnel',
        run: () => forwards.close(),
      });
      for (const disk of byPort) disk.nodePort = forwards.nodePorts.get(disk.port) ?? disk.port;
    }
    return run.state.disks
      .map(
        (disk) =>
          `node ${disk.nodeSocket ?? `127.0.0.1:${disk.nodePort}`} -> hub ${disk.socket ?? `127.0.0.1:${disk.port}`}`,
      )
      .join(', ');
  },
  would(run) {
    const node = run.plan.node;
    if (node === undefined) return 'nothing to do (the node is this host)';
    return `SSH to ${run.node.description} (host key checked against ${node.knownHosts}), forward each disk's Unix socket to one in a private directory there (the leased ports for a VMware client or a disk served on a port)`;
  },
};
