// create-layers: this sync's new layer per disk on the replica node, beside replica.path: a whole
// image for a full, an overlay on the newest point's layer for an incremental. The replica itself
// is not touched until install-point; a failed sync removes its layers.

import type { Step } from '../../engine/step.js';
import { createLayer, removeLayers } from '../../replica/replica-files.js';
import { execOn } from '../../replica/replica-node.js';
import { type ReplicateRun } from './replicate-run.js';

export const createLayers: Step<ReplicateRun> = {
  name: 'create-layers',
  facts: ({ state }) => ({
    disks: state.disks.map((disk) => ({ key: disk.key, layer: disk.layer, backing: disk.backingLayer ?? null })),
  }),
  title: (run) => `create ${run.state.type === 'full' ? 'new images' : 'new layers'} on ${run.replicaNode.description}`,
  async run(run) {
    const exec = execOn(run.replicaNode);
    for (const disk of run.state.disks) {
      // createLayer refuses a name that exists: the undo, registered once it is ours, never deletes another's file.
      await createLayer(exec, disk.layer, { backing: disk.backingLayer, virtualSize: disk.virtualSize });
      run.undo.push({
        what: `delete ${disk.layer} on ${run.replicaNode.description}`,
        when: 'failure',
        step: 'create-layers',
        run: () => removeLayers(exec, [disk.layer]),
      });
    }
    return run.state.disks.map((disk) => `${disk.key}: ${disk.layer}`).join(', ');
  },
  would: (run) =>
    run.state.disks.length === 0
      ? `one new layer per disk beside ${run.plan.replica.path} on ${run.replicaNode.description}`
      : run.state.disks
          .map((disk) => (disk.backingLayer ? `${disk.layer} (overlay on ${disk.backingLayer})` : disk.layer))
          .join('\n'),
};
