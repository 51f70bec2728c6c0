// replicate (docs/replication.md): one absolute replica file per disk ({key} unless the source
// lists one disk), never the VM's own domain or images on its own node, and no source that cannot
// be replicated yet (a vmware one).

import path from 'node:path';
import { hasEnvRef } from '../../plan/env-refs.js';
import { isObject, listAt, stringAt, valueAt } from '../../plan/raw-plan.js';
import type { CheckContext } from '../../plan/checks/check-context.js';
import { checkDefinitionMemory } from '../../plan/checks/definition-memory.js';
import { checkDomainChanges } from '../../plan/checks/domain-changes.js';
import { sourceCan, sourceDefinitionOf } from '../../source/source-types.js';
import { replicaDomain } from './replica-domain-name.js';

export function checkReplicateRules(context: CheckContext): void {
  const { data, issues } = context;
  const refusal = sourceDefinitionOf(stringAt(data, 'vm', 'source', 'type'))?.notReplicable;
  if (refusal !== undefined) issues.error(['vm', 'source', 'type'], refusal);
  checkDefinitionMemory(context, ['replica', 'definition']);
  checkDomainChanges(context, ['replica', 'changes']);
  const scratch = stringAt(data, 'replica', 'scratch');
  if (scratch !== undefined && !hasEnvRef(scratch) && !path.posix.isAbsolute(scratch)) {
    issues.error(
      ['replica', 'scratch'],
      `replica.scratch: must be an absolute path on the replica node (got '${scratch}')`,
    );
  }
  checkReplicaPath(context);
  checkReplicaDomain(context);
}

// Each disk's newest point is one file of its own: {key} tells them apart.
function checkReplicaPath(context: CheckContext): void {
  const { data, issues } = context;
  const file = stringAt(data, 'replica', 'path');
  if (file === undefined || file === '' || hasEnvRef(file)) return;
  if (!path.posix.isAbsolute(file))
    issues.error(['replica', 'path'], `replica.path: must be an absolute path on the replica node (got '${file}')`);
  const disks = valueAt(data, 'vm', 'source', 'disks');
  if (!file.includes('{key}') && !(Array.isArray(disks) && disks.length === 1)) {
    const why = Array.isArray(disks)
      ? `vm.source.disks lists ${disks.length} disks`
      : 'vm.source.disks is not given, so every disk of the domain is replicated';
    issues.error(['replica', 'path'], `replica.path: must contain {key} (the disk key) because ${why}`);
  }
  if (!sameNode(data)) return;
  // Only a source that names its image files in the plan; a libvirt domain's are read at sync time.
  if (!sourceCan(stringAt(data, 'vm', 'source', 'type'), 'namesImageFiles')) return;
  const images = listAt(data, 'vm', 'source', 'disks').filter(isObject);
  for (const disk of images) {
    const replica = path.posix.normalize(file.replaceAll('{key}', String(disk.key)));
    const image = images.find(
      (other) =>
        typeof other.path === 'string' && !hasEnvRef(other.path) && path.posix.normalize(other.path) === replica,
    );
    if (image === undefined) continue;
    issues.error(
      ['replica', 'path'],
      `replica.path: ${replica} (disk ${String(disk.key)}) is the image of disk ${String(image.key)} on the same node; the replica needs files of its own`,
    );
    return;
  }
}

// The replica domain is defined over whatever has its name on the replica node: never the VM's own.
function checkReplicaDomain({ data, issues }: CheckContext): void {
  if (!sourceCan(stringAt(data, 'vm', 'source', 'type'), 'hasLibvirtDomain') || !sameNode(data)) return;
  const replica = valueAt(data, 'replica');
  const name = stringAt(data, 'vm', 'name');
  if (!isObject(replica) || name === undefined) return;
  const domain = replicaDomain(replica, name, true);
  const own = stringAt(data, 'vm', 'source', 'domain') ?? name;
  if (domain === undefined || hasEnvRef(domain) || domain !== own) return;
  const given = typeof replica.domain === 'string';
  const where = given ? ['replica', 'domain'] : ['replica'];
  const what = given ? `'${domain}'` : `the default '${domain}'`;
  issues.error(
    where,
    `replica.domain: ${what} is the VM's own domain on the same node; give the replica a domain of its own`,
    given ? 'value' : 'key',
  );
}

// The replica on the VM's own node: both omitted (this host), or the same host and SSH port.
function sameNode(data: unknown): boolean {
  const source = valueAt(data, 'node');
  const replica = valueAt(data, 'replica', 'node');
  if (source === undefined || replica === undefined) return source === replica;
  if (!isObject(source) || !isObject(replica)) return false;
  return source.host === replica.host && (source.port ?? 22) === (replica.port ?? 22);
}
