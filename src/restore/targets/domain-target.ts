// A new libvirt domain on the node (restore.target type domain,
// docs/how-it-works.md#a-restore-as-a-new-libvirt-domain): each disk restored as a file target
// restores it (qcow2, written beside its path, verified, renamed into place), then a domain defined
// on the files from the XML stored with the point, started only when asked. A domain of that name,
// or a point without stored XML, is refused before any file is made; a run that fails after the
// files are placed removes them and leaves no domain defined, and so does doctor after a kill
// (recorded before the files are placed: ../../libvirt/restored-domain.ts).

import { readFile } from 'node:fs/promises';
import { crashPoint } from '../../crash-points.js';
import { wouldFail } from '../../engine/step.js';
import { SendenseError, isSendenseError } from '../../errors.js';
import { libvirtAccessHint } from '../../libvirt/access-hint.js';
import type { ClonedDomain } from '../../libvirt/recovered-domain-xml.js';
import {
  removeRestoredDomain,
  restoredDomainState,
  RESTORED_DOMAIN_RESOURCE,
  type RestoredDomainFacts,
} from '../../libvirt/restored-domain.js';
import { restoredDomainXml } from '../../libvirt/restored-domain-xml.js';
import { execOn, virshMessage, virshOn, type Virsh } from '../../libvirt/virsh.js';
import type { DomainTarget } from '../../plan/types.js';
import { domainDefinitionFile } from '../../repository/layout.js';
import { fileTarget } from './file-target.js';
import { fillTarget, type RestoreDiskTarget, type TargetRun } from './restore-disk-target.js';

export function domainTarget(spec: DomainTarget): RestoreDiskTarget {
  const files = fileTarget({ type: 'file', path: spec.path, format: 'qcow2', overwrite: false, mode: 0o600 });
  let made: ClonedDomain | undefined;
  return {
    ...files,
    preparing: (run) => `check domain ${spec.domain} can be made, create qcow2 target files on ${run.node.description}`,
    async prepare(run) {
      made = await newDomain(run, spec, virshOf(run, spec));
      return `domain ${spec.domain} is free; ${await files.prepare(run)}`;
    },
    async wouldPrepare(run) {
      if (run.node.isLocal && run.state.backupId !== '') {
        try {
          await newDomain(run, spec, virshOf(run, spec));
        } catch (error) {
          if (!isSendenseError(error)) throw error;
          return wouldFail(error.message);
        }
      }
      const prepared = await files.wouldPrepare(run);
      return typeof prepared === 'string' ? `domain ${spec.domain} (must not exist); ${prepared}` : prepared;
    },
    async place(run) {
      const paths = run.state.disks.map((disk) => disk.finalPath!);
      // Before any file is in place: doctor gives the domain and the files back after a kill.
      const facts: RestoredDomainFacts = { domain: spec.domain, uri: spec.uri, files: paths };
      await run.store.recordNodeResource({
        runId: run.runId,
        node: run.node.id,
        kind: RESTORED_DOMAIN_RESOURCE,
        name: spec.domain,
        facts: { ...facts, nodeSpec: run.plan.node ?? null },
      });
      const forget = () => run.store.forgetNodeResource(run.node.id, RESTORED_DOMAIN_RESOURCE, spec.domain);
      // Given back on failure below (last: after the domain and the files), forgotten at once on success.
      run.undo.push({
        what: `forget the restored domain ${spec.domain}`,
        when: 'failure',
        step: 'place-target',
        run: forget,
      });
      const placed = await files.place(run);
      crashPoint('restore.files-placed');
      const virsh = virshOf(run, spec);
      for (const note of made!.notes) run.reporter.emit({ type: 'info', step: 'place-target', message: note });
      // What doctor does after a kill, done at once: the domain undefined unless it has run, and
      // then the files deleted (a domain started meanwhile keeps both).
      run.undo.push({
        what: `undefine domain ${spec.domain} unless it has run, delete the restored files ${paths.join(', ')}`,
        when: 'failure',
        step: 'place-target',
        run: async () => {
          const exec = execOn(run.node);
          const found = await restoredDomainState(exec, facts);
          if (found.is !== 'ran') await removeRestoredDomain(exec, facts, found.is === 'never-ran');
        },
      });
      await virsh.runWithXml(['define', '--file'], made!.xml, `define domain ${spec.domain}`);
      crashPoint('restore.domain-defined');
      if (!spec.start) {
        await forget();
        return `${placed}; domain ${spec.domain} defined, not started`;
      }
      await virsh.run(['start', spec.domain], `start domain ${spec.domain}`);
      // Running on the files now: the user's, never undefined or deleted by this run or doctor again.
      run.undo.commit();
      await forget();
      return `${placed}; domain ${spec.domain} defined and started`;
    },
    wouldPlace: `rename each restored file into place, then virsh define ${spec.domain} (the XML stored with the point: new name, UUID and MACs, network ${spec.network})${spec.start ? ` and virsh start ${spec.domain}` : ', not started'}`,
  };
}

function virshOf(run: TargetRun, spec: DomainTarget): Virsh {
  return virshOn(execOn(run.node), spec.uri);
}

// Before any file is made: the point has its XML, libvirt answers, the name is free, and the XML
// makes a domain on the files.
async function newDomain(run: TargetRun, spec: DomainTarget, virsh: Virsh): Promise<ClonedDomain> {
  const { backupId } = run.state;
  const stored = await storedXml(run, backupId);
  const version = await virsh.attempt(['version', '--daemon']);
  if (version.exitCode !== 0) {
    const message = virshMessage(version);
    fail(
      `libvirt at ${spec.uri} on ${run.node.description} does not answer: ${message}${libvirtAccessHint(spec.uri, message, run.node.isLocal)}`,
    );
  }
  const existing = await virsh.attempt(['domstate', spec.domain]);
  if (existing.exitCode === 0)
    fail(
      `domain ${spec.domain} already exists on ${run.node.description} (${existing.stdout.trim()}): choose another restore.target.domain`,
    );
  const backup = await run.store.getBackup(backupId);
  const disks = run.state.disks.map((disk) => ({
    key: disk.key,
    source: backup?.disks.find((candidate) => candidate.diskKey === disk.key)?.source ?? '',
    image: fillTarget(spec.path, disk),
  }));
  try {
    return restoredDomainXml(stored, spec.domain, disks, spec.network);
  } catch (error) {
    return fail(`the domain XML stored with backup ${backupId} cannot be used: ${(error as Error).message}`);
  }
}

async function storedXml(run: TargetRun, backupId: string): Promise<string> {
  const { repository, vm } = run.plan;
  try {
    return await readFile(domainDefinitionFile(repository.path, vm.name, backupId), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      fail(`cannot read the domain XML stored with backup ${backupId}: ${(error as Error).message}`);
    return fail(
      `backup ${backupId} of VM ${vm.name} has no domain XML stored with it (its source was not libvirt): restore it to a file target instead`,
    );
  }
}

function fail(message: string): never {
  throw new SendenseError(message, { step: 'prepare-target' });
}
