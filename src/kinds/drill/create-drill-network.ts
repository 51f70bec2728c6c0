// create-network (drill, isolation.network: isolated): the drill's own bridge and the namespace the
// tcp check probes from (../../libvirt/drill-network.ts), recorded for doctor before anything is
// made; cleanup removes them after the domain is gone (the undo stack runs backwards).

import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { crashPoint } from '../../crash-points.js';
import { execOn } from '../../libvirt/virsh.js';
import {
  DRILL_NETWORK_RESOURCE,
  MAX_DRILL_TAPS,
  drillNetworkLeft,
  drillNetworkNames,
  makeDrillNetwork,
  removeDrillNetwork,
} from '../../libvirt/drill-network.js';
import { storedInterfaces } from '../../libvirt/drill-interfaces.js';
import type { DrillRun } from './drill-run.js';

export const createDrillNetwork: Step<DrillRun> = {
  name: 'create-network',
  title: (run) => `make the drill's isolated bridge and probe namespace on ${run.node.description}`,
  skip: (run) =>
    run.state.nothingNew ??
    (run.plan.drill.isolation.network === 'none' ? 'isolation.network: none (no network interface)' : undefined),
  facts: (run) => (run.state.network === undefined ? undefined : { ...run.state.network }),
  async run(run) {
    const { isolation } = run.plan.drill;
    const interfaces = storedInterfaces(run.state.storedXml).length;
    if (interfaces > MAX_DRILL_TAPS)
      throw new SendenseError(
        `the point's definition has ${interfaces} network interfaces; a drill puts at most ${MAX_DRILL_TAPS} on its bridge`,
        {
          step: 'create-network',
        },
      );
    const network = drillNetworkNames(run.runId, interfaces);
    const exec = execOn(run.node);
    const left = await drillNetworkLeft(exec, network);
    // Never recorded, so never removed: a name that is there already is not the drill's.
    if (left.length > 0)
      throw new SendenseError(`${left.join(' and ')} already on ${run.node.description}: not the drill's own`, {
        step: 'create-network',
      });
    await run.store.recordNodeResource({
      runId: run.runId,
      node: run.node.id,
      kind: DRILL_NETWORK_RESOURCE,
      name: network.bridge,
      facts: { ...network, nodeSpec: run.plan.node ?? null },
    });
    run.undo.push({
      what: `forget the drill's network ${network.bridge}`,
      when: 'always',
      step: 'create-network',
      run: () => run.store.forgetNodeResource(run.node.id, DRILL_NETWORK_RESOURCE, network.bridge),
    });
    run.undo.push({
      what: `remove the bridge ${network.bridge} and the namespace ${network.netns} on ${run.node.description}`,
      when: 'always',
      step: 'create-network',
      run: () => removeDrillNetwork(exec, network),
    });
    run.state.network = network;
    await makeDrillNetwork(exec, network, isolation.probe ?? '');
    crashPoint('drill.network-made');
    return `bridge ${network.bridge} (no uplink, no host address) with ${interfaces} tap(s), namespace ${network.netns}${isolation.probe === undefined ? '' : ` at ${isolation.probe}`}`;
  },
  would: (run) =>
    `ip link add a bridge of the drill's own (no uplink, no host address) and ip netns add a namespace joined to it${run.plan.drill.isolation.probe === undefined ? '' : ` at ${run.plan.drill.isolation.probe}`}`,
};
