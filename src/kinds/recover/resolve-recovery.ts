// resolve-point (recover): the point and its disks, the definition the new domain is made from
// (the XML stored with the point, or the plan's) and that recover.to.changes fit it, and on the
// node: libvirt answers, the domain name is free, no storage file exists yet and none is inside a
// repository, every network the changes name is there.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { wouldFail, type Step } from '../../engine/step.js';
import { isSendenseError, SendenseError } from '../../errors.js';
import { missingNetwork } from '../../libvirt/check-networks.js';
import { unmatchedMoves } from '../../libvirt/domain-changes.js';
import { minimalDomainXml } from '../../libvirt/recovered-domain-xml.js';
import { libvirtAccessHint } from '../../libvirt/access-hint.js';
import { virshMessage } from '../../libvirt/virsh.js';
import { describeInterfaceNetwork } from '../../plan/domain-changes.js';
import { runScratchDir } from '../../libvirt/scratch-dir.js';
import { refuseInsideRepository } from '../../repository/containing-repository.js';
import { describePoint, findPoint } from '../../repository/find-point.js';
import { domainDefinitionFile } from '../../repository/layout.js';
import type { RecoverRun } from './recover-run.js';

export const resolveRecovery: Step<RecoverRun> = {
  name: 'resolve-point',
  title: (run) =>
    `find point ${describePoint(run.plan.recover.point)} of ${run.plan.vm.name} and check ${run.plan.recover.to.domain} can be made`,
  facts: ({ state }) => ({
    backupId: state.backupId,
    definition: state.storedXml === undefined ? 'plan' : 'stored',
    disks: state.disks.map((disk) => ({ key: disk.key, file: disk.file, storage: disk.storage })),
  }),
  async run(run) {
    await resolve(run);
    await checkNode(run);
    return `backup ${run.state.backupId}, disk(s) ${run.state.disks.map((disk) => `${disk.key} -> ${disk.storage}`).join(', ')}; definition: ${run.state.storedXml === undefined ? 'the plan' : 'stored with the point'}`;
  },
  async would(run) {
    try {
      await resolve(run);
      if (run.node.isLocal) await checkNode(run);
      return `point ${describePoint(run.plan.recover.point)}: backup ${run.state.backupId}; domain ${run.plan.recover.to.domain} from the ${run.state.storedXml === undefined ? "plan's definition" : 'XML stored with the point'}`;
    } catch (error) {
      if (!isSendenseError(error)) throw error;
      if (!run.resolved) run.state = { backupId: '', disks: [], overlayDir: '' };
      return wouldFail(error.message);
    }
  },
};

async function resolve(run: RecoverRun): Promise<void> {
  const { plan } = run;
  const { to } = plan.recover;
  const request = {
    vm: plan.vm.name,
    point: plan.recover.point,
    disks: plan.recover.disks,
    repository: plan.repository.path,
    reader: 'resolve-point',
    step: 'resolve-point',
  };
  const { backup, disks } = await findPoint(run.store, request);
  const storedXml =
    to.definition?.use === 'plan' ? undefined : await readStoredXml(plan.repository.path, plan.vm.name, backup.id);
  if (storedXml === undefined && to.definition === undefined) {
    fail(
      `backup ${backup.id} of VM ${plan.vm.name} has no domain XML stored with it (its source was not libvirt): give recover.to.definition (memory, vcpus)`,
    );
  }
  const overlayDir = runScratchDir(to.scratch, run.runId);
  run.state = {
    backupId: backup.id,
    storedXml,
    overlayDir,
    disks: disks.map((disk) => ({
      ...disk,
      source: backup.disks.find((candidate) => candidate.diskKey === disk.key)?.source ?? '',
      overlay: `${overlayDir}/disk-${disk.key}.qcow2`,
      storage: to.storage.replaceAll('{key}', String(disk.key)),
    })),
  };
  const storages = run.state.disks.map((disk) => disk.storage);
  if (new Set(storages).size !== storages.length)
    fail(`recover.to.storage ${to.storage} names one file for several disks: put {key} in it`);
  checkNetworkKeys(run);
}

// Each network key of recover.to.changes names an interface the domain would have: a typo would leave it on the original's network.
function checkNetworkKeys(run: RecoverRun): void {
  const { to } = run.plan.recover;
  const moves = to.changes?.network ?? [];
  if (moves.length === 0) return;
  const base = run.state.storedXml ?? minimalDomainXml(to.domain, to.definition!, []).xml;
  const unmatched = unmatchedMoves(base, moves);
  if (unmatched.length > 0)
    fail(
      `recover.to.changes.network: the domain's definition (${run.state.storedXml === undefined ? 'recover.to.definition' : `stored with backup ${run.state.backupId}`}) has no interface on ${unmatched.map(describeInterfaceNetwork).join(' or ')}`,
    );
}

async function readStoredXml(repository: string, vm: string, backupId: string): Promise<string | undefined> {
  try {
    return await readFile(domainDefinitionFile(repository, vm, backupId), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SendenseError(`cannot read the domain XML stored with backup ${backupId}: ${(error as Error).message}`, {
      step: 'resolve-point',
    });
  }
}

// On the node, before anything is taken: nothing there may be overwritten or confused with the new domain.
async function checkNode(run: RecoverRun): Promise<void> {
  const { to } = run.plan.recover;
  const version = await run.virsh.attempt(['version', '--daemon']);
  if (version.exitCode !== 0) {
    const message = virshMessage(version);
    fail(
      `libvirt at ${to.uri} on ${run.node.description} does not answer: ${message}${libvirtAccessHint(to.uri, message, run.node.isLocal)}`,
    );
  }
  const existing = await run.virsh.attempt(['domstate', to.domain]);
  if (existing.exitCode === 0)
    fail(
      `domain ${to.domain} already exists on ${run.node.description} (${existing.stdout.trim()}): choose another recover.to.domain`,
    );
  for (const disk of run.state.disks) {
    if (!path.posix.isAbsolute(disk.storage)) fail(`recover.to.storage must be an absolute path (got ${disk.storage})`);
    const there = await run.node.exec([
      'sh',
      '-c',
      'test -e "$1" && echo exists; test -d "$2" || echo nodir',
      'sendense-check',
      disk.storage,
      path.posix.dirname(disk.storage),
    ]);
    if (there.stdout.includes('exists'))
      fail(
        `${disk.storage} (disk ${disk.key}) already exists on ${run.node.description}: recover never overwrites a file`,
      );
    if (there.stdout.includes('nodir'))
      fail(`the directory of ${disk.storage} (disk ${disk.key}) does not exist on ${run.node.description}`);
    await refuseInsideRepository(
      run.node,
      run.store,
      disk.storage,
      `recover.to.storage ${disk.storage}`,
      run.plan.repository.path,
    );
  }
  const scratch = await run.node.exec(['test', '-d', to.scratch]);
  if (scratch.exitCode !== 0) fail(`recover.to.scratch ${to.scratch} is not a directory on ${run.node.description}`);
  const network = await missingNetwork(
    run.virsh,
    (argv) => run.node.exec(argv),
    to.changes,
    run.plan.recover.start,
    run.node.description,
  );
  if (network !== undefined) fail(`recover.to.changes.network: ${network}`);
}

function fail(message: string): never {
  throw new SendenseError(message, { step: 'resolve-point' });
}
