// The VM as vSphere describes it: found by inventory path or moref, with its datacenter (for the
// datastore's file access), its CBT state and its disks (docs/vmware.md#what-is-read-exactly-and-what-is-refused).

import type { Element } from '@xmldom/xmldom';
import { SendenseError } from '../errors.js';
import { child, childElements, childText, moRefOf, xsiType, type MoRef } from './soap-xml.js';
import type { VimClient } from './vim-client.js';

/** One virtual disk as a VM's or a snapshot's configuration gives it. */
export interface VmDisk {
  readonly key: number;
  readonly capacity: number;
  /** "[datastore] dir/name.vmdk": the descriptor. */
  readonly fileName: string;
  /** The backing's type ("VirtualDiskFlatVer2BackingInfo"). */
  readonly backing: string;
  /** CBT's change id of the disk now ("52 de …/23"), when CBT has one. */
  readonly changeId?: string;
  /** The file this disk is a delta of (a snapshot's child disk), if so. */
  readonly parentFile?: string;
}

export interface VmFacts {
  readonly ref: MoRef;
  readonly name: string;
  readonly datacenter: string;
  readonly cbt: boolean;
  readonly powerState: string;
  readonly disks: readonly VmDisk[];
}

const MOREF = /^vm-\d+$/;

// `where`: an inventory path (/DC/vm/folder/name) or a moref (vm-42).
export async function findVm(client: VimClient, where: string): Promise<VmFacts> {
  const ref = MOREF.test(where) ? { type: 'VirtualMachine', value: where } : await client.findByInventoryPath(where);
  const props =
    ref === undefined
      ? undefined
      : await client.properties(ref, [
          'name',
          'parent',
          'config.changeTrackingEnabled',
          'config.hardware.device',
          'runtime.powerState',
        ]);
  if (ref === undefined || props === undefined || !props.has('name')) {
    throw new SendenseError(
      `no VM ${where} in vSphere at ${client.origin} (vm.source.path: an inventory path such as /DC/vm/name, or a moref such as vm-42)`,
    );
  }
  const device = props.get('config.hardware.device');
  return {
    ref,
    name: props.get('name')!.textContent ?? where,
    datacenter: await datacenterOf(client, props.get('parent')),
    cbt: props.get('config.changeTrackingEnabled')?.textContent === 'true',
    powerState: props.get('runtime.powerState')?.textContent ?? 'unknown',
    disks: device === undefined ? [] : disksOf(device),
  };
}

/** The disks of a configuration's device list (a VM's or a snapshot's `config.hardware.device`). */
export function disksOf(devices: Element): VmDisk[] {
  const disks: VmDisk[] = [];
  for (const device of childElements(devices)) {
    if (xsiType(device) !== 'VirtualDisk') continue;
    const backing = child(device, 'backing');
    const bytes = childText(device, 'capacityInBytes');
    const capacity =
      bytes !== undefined && Number(bytes) > 0 ? Number(bytes) : Number(childText(device, 'capacityInKB') ?? 0) * 1024;
    const parent = backing === undefined ? undefined : child(backing, 'parent');
    const changeId = backing === undefined ? undefined : childText(backing, 'changeId');
    disks.push({
      key: Number(childText(device, 'key')),
      capacity,
      fileName: (backing && childText(backing, 'fileName')) ?? '',
      backing: (backing && xsiType(backing)) ?? 'unknown',
      ...(changeId ? { changeId } : {}),
      ...(parent === undefined ? {} : { parentFile: childText(parent, 'fileName') ?? '?' }),
    });
  }
  return disks;
}

// The name of the datacenter holding the VM: its parents walked up (the datastore's file access names it).
async function datacenterOf(client: VimClient, parent: Element | undefined): Promise<string> {
  let at = parent === undefined ? undefined : moRefOf(parent);
  for (let depth = 0; at !== undefined && depth < 32; depth++) {
    const props = await client.properties(at, at.type === 'Datacenter' ? ['name'] : ['parent']);
    if (at.type === 'Datacenter') return props?.get('name')?.textContent ?? '';
    const up = props?.get('parent');
    at = up === undefined ? undefined : moRefOf(up);
  }
  throw new SendenseError(`cannot find the datacenter of the VM in vSphere at ${client.origin}`);
}

/** "[ds] dir/name.vmdk" -> its datastore and path. */
export function datastorePath(fileName: string): { readonly datastore: string; readonly path: string } {
  const match = /^\[([^\]]+)\]\s*(.*)$/.exec(fileName);
  if (match === null) throw new SendenseError(`cannot read the datastore path ${fileName}`);
  return { datastore: match[1]!, path: match[2]! };
}

// The datastore's HTTPS file access (vSphere "datastore HTTP file access"): /folder/PATH?dcPath=&dsName=.
export function datastoreUrl(origin: string, datacenter: string, datastore: string, path: string): string {
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  return `${origin}/folder/${encoded}?dcPath=${encodeURIComponent(datacenter)}&dsName=${encodeURIComponent(datastore)}`;
}
