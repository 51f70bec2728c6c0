// resolve-point (drill): the point and its disks, the definition stored with it (a drill starts the
// point as it was taken: without one there is nothing to start), and on the node: libvirt answers,
// the drill's domain name is free, the scratch directory is there. point: new leaves nothing to
// do when the newest point was drilled already.

import { readFile } from 'node:fs/promises';
import { wouldFail, type Step } from '../../engine/step.js';
import { isSendenseError, SendenseError } from '../../errors.js';
import { runScratchDir } from '../../libvirt/scratch-dir.js';
import { virshMessage } from '../../libvirt/virsh.js';
import { describePoint, findPoint } from '../../repository/find-point.js';
import { domainDefinitionFile } from '../../repository/layout.js';
import type { RestorePoint } from '../../plan/types.js';
import type { DrillDisk, DrillRun } from './drill-run.js';
import { resolveReplicaPoint } from './resolve-replica-point.js';

export const resolveDrill: Step<DrillRun> = {
  name: 'resolve-point',
  title: (run) =>
    `find point ${describeDrillPoint(run)} of ${run.plan.vm.name}${run.plan.drill.replica === undefined ? '' : ` on the replica of ${run.plan.drill.replica}`} and check a drill of it can start`,
  facts: ({ state }) => ({
    backupId: state.backupId,
    domain: state.domain,
    disks: state.disks.map((disk) => ({ key: disk.key, file: disk.file })),
  }),
  async run(run) {
    await resolve(run);
    if (run.state.nothingNew !== undefined) return run.state.nothingNew;
    await checkNode(run);
    const { replica } = run.state;
    const point =
      replica === undefined
        ? `backup ${run.state.backupId}`
        : `point ${run.state.backupId} of replicate plan ${replica.plan} (layer(s) ${replica.layers.join(', ')})`;
    return `${point}, disk(s) ${run.state.disks.map((disk) => disk.key).join(', ')}; domain ${run.state.domain}`;
  },
  async would(run) {
    try {
      await resolve(run);
      if (run.state.nothingNew !== undefined) return run.state.nothingNew;
      if (run.node.isLocal) await checkNode(run);
      const what = run.state.replica === undefined ? 'backup' : `replica point of ${run.state.replica.plan}:`;
      return `point ${describeDrillPoint(run)}: ${what} ${run.state.backupId}; domain ${run.state.domain} from the XML stored with the point`;
    } catch (error) {
      if (!isSendenseError(error)) throw error;
      if (!run.resolved)
        run.state = { backupId: '', disks: [], storedXml: '', dir: '', domain: '', consoleFile: '', results: [] };
      return wouldFail(error.message);
    }
  },
};

function describeDrillPoint(run: DrillRun): string {
  const { point } = run.plan.drill;
  return point.type === 'new' ? 'new (the newest, unless drilled already)' : describePoint(point);
}

async function resolve(run: DrillRun): Promise<void> {
  const { plan } = run;
  const wanted = plan.drill.point;
  const dir = runScratchDir(plan.drill.scratch, run.runId);
  const found = await findDrillPoint(run);
  const base = {
    backupId: found.backupId,
    dir,
    domain: `${plan.vm.name}-drill-${run.runId}`,
    consoleFile: `${dir}/console.log`,
    ...(found.replica === undefined ? {} : { replica: found.replica }),
  };
  if (wanted.type === 'new') {
    const [last] = await run.store.listDrills({ plan: plan.name }, 1);
    if (last?.backupId === found.backupId) {
      run.state = {
        ...base,
        disks: [],
        storedXml: '',
        results: [],
        nothingNew: `nothing new: ${found.replica === undefined ? 'backup' : 'replica point'} ${found.backupId}, the newest, was drilled by run ${last.runId} (${last.outcome})`,
      };
      return;
    }
  }
  const storedXml = await found.storedXml();
  run.state = {
    ...base,
    storedXml,
    results: [],
    disks: found.disks.map((disk) => ({ ...disk, overlay: `${dir}/disk-${disk.key}.qcow2` })),
  };
}

interface FoundPoint {
  readonly backupId: string;
  readonly disks: readonly Omit<DrillDisk, 'overlay'>[];
  readonly storedXml: () => Promise<string>;
  readonly replica?: { readonly plan: string; readonly layers: readonly string[] };
}

// A backup of the repository, or (drill.replica) a replicate plan's point on the node.
async function findDrillPoint(run: DrillRun): Promise<FoundPoint> {
  const { plan } = run;
  const { replica } = plan.drill;
  if (replica !== undefined) {
    const found = await resolveReplicaPoint(run, replica);
    return {
      backupId: found.point.id,
      disks: found.disks,
      storedXml: () => Promise.resolve(found.storedXml),
      replica: { plan: replica, layers: found.disks.map((disk) => disk.file) },
    };
  }
  const repository = plan.repository!.path;
  const wanted = plan.drill.point;
  const point: RestorePoint = wanted.type === 'new' ? { type: 'latest' } : wanted;
  const { backup, disks } = await findPoint(run.store, {
    vm: plan.vm.name,
    point,
    repository,
    reader: 'resolve-point',
    step: 'resolve-point',
  });
  return {
    backupId: backup.id,
    disks: disks.map((disk) => ({
      ...disk,
      source: backup.disks.find((candidate) => candidate.diskKey === disk.key)?.source ?? '',
    })),
    storedXml: () => readStoredXml(repository, plan.vm.name, backup.id),
  };
}

async function readStoredXml(repository: string, vm: string, backupId: string): Promise<string> {
  try {
    return await readFile(domainDefinitionFile(repository, vm, backupId), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      fail(
        `backup ${backupId} of VM ${vm} has no domain XML stored with it (its source was not libvirt): a drill starts the point as it was defined, so it cannot drill this point`,
      );
    fail(`cannot read the domain XML stored with backup ${backupId}: ${(error as Error).message}`);
  }
}

async function checkNode(run: DrillRun): Promise<void> {
  const { drill } = run.plan;
  const version = await run.virsh.attempt(['version', '--daemon']);
  if (version.exitCode !== 0)
    fail(`libvirt at ${drill.uri} on ${run.node.description} does not answer: ${virshMessage(version)}`);
  const existing = await run.virsh.attempt(['domstate', run.state.domain]);
  if (existing.exitCode === 0) fail(`domain ${run.state.domain} already exists on ${run.node.description}`);
  const scratch = await run.node.exec(['test', '-d', drill.scratch]);
  if (scratch.exitCode !== 0) fail(`drill.scratch ${drill.scratch} is not a directory on ${run.node.description}`);
}

function fail(message: string): never {
  throw new SendenseError(message, { step: 'resolve-point' });
}
