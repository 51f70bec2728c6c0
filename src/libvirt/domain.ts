// A libvirt domain as a backup sees it (docs/how-it-works.md#libvirt-domains): does libvirt answer
// and can it back up, is the domain there, running or shut off, its disks, its XML.

import { SendenseError } from '../errors.js';
import { libvirtAccessHint } from './access-hint.js';
import { parseDomainXml, type DomainDefinition } from './domain-xml.js';
import type { ExecResult } from '../node/node.js';
import { NO_SUCH_DOMAIN, virshMessage, type Virsh } from './virsh.js';

/** libvirt enables its backup API (pull mode, checkpoints) by default from this version on. */
export const BACKUP_API_SINCE = [7, 2, 0] as const;

export interface DomainFacts {
  readonly name: string;
  /** virsh domstate: running, paused, shut off, crashed… */
  readonly state: string;
  /** A QEMU process holds its disks (running, paused…): read through a backup job, not from the images. */
  readonly active: boolean;
  readonly persistent: boolean;
  /** The live definition (an active domain's actual disks). */
  readonly definition: DomainDefinition;
  /** The XML stored with each backup: the persistent definition when there is one. */
  readonly xml: string;
  /** Names of all its checkpoints, ours and other tools'. */
  readonly checkpoints: readonly string[];
}

export async function inspectDomain(virsh: Virsh, domain: string): Promise<DomainFacts> {
  // Asked at once on this host (each answers on its own; read in this order), in turn on a node.
  const [version, stateResult, infoResult, liveResult, inactiveResult, checkpointsResult] = await virsh.attemptAll([
    ['version', '--daemon'],
    ['domstate', domain],
    ['dominfo', domain],
    ['dumpxml', domain],
    ['dumpxml', '--inactive', domain],
    ['checkpoint-list', domain, '--name'],
  ]);
  checkBackupApi(virsh, version!);
  if (stateResult!.exitCode !== 0) {
    const message = virshMessage(stateResult!);
    if (NO_SUCH_DOMAIN.test(message)) {
      throw new SendenseError(`libvirt domain '${domain}' does not exist on ${virsh.uri}${await knownDomains(virsh)}`);
    }
    throw new SendenseError(`libvirt at ${virsh.uri}: ${message}`);
  }
  const state = stateResult!.stdout.trim();
  const active = !/^(shut off|crashed)$/.test(state);
  const info = answer(infoResult!, `read domain ${domain}`);
  const persistent = /^Persistent:\s+yes/m.test(info);
  const live = answer(liveResult!, `read the XML of domain ${domain}`);
  const xml = persistent && active ? answer(inactiveResult!, `read the XML of domain ${domain}`) : live;
  const checkpoints = answer(checkpointsResult!, `list the checkpoints of domain ${domain}`)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  return Object.freeze({
    name: domain,
    state,
    active,
    persistent,
    definition: parseDomainXml(live),
    xml,
    checkpoints: Object.freeze(checkpoints),
  });
}

// A call's stdout, or a SendenseError saying what failed (as Virsh.run).
function answer(result: ExecResult, what: string): string {
  if (result.exitCode === 0) return result.stdout;
  throw new SendenseError(`${what}: ${virshMessage(result)}`);
}

// The daemon answers, and is new enough for pull-mode backups with checkpoints.
function checkBackupApi(virsh: Virsh, result: ExecResult): void {
  if (result.exitCode !== 0) {
    const message = virshMessage(result);
    throw new SendenseError(
      `libvirt at ${virsh.uri} does not answer: ${message}${libvirtAccessHint(virsh.uri, message, virsh.concurrent)}`,
    );
  }
  const match = /Running against daemon:\s*(\d+)\.(\d+)\.(\d+)/.exec(result.stdout);
  if (!match) return;
  const version = [Number(match[1]), Number(match[2]), Number(match[3])];
  const older = version.findIndex((part, i) => part !== BACKUP_API_SINCE[i]);
  if (older !== -1 && version[older]! < BACKUP_API_SINCE[older]!) {
    throw new SendenseError(
      `libvirt ${version.join('.')} at ${virsh.uri} is too old for the backup API: ${BACKUP_API_SINCE.join('.')} or newer is needed`,
    );
  }
}

// "(domains there: a, b)" to help with a typo.
async function knownDomains(virsh: Virsh): Promise<string> {
  const result = await virsh.attempt(['list', '--all', '--name']);
  if (result.exitCode !== 0) return '';
  const names = result.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  return names.length === 0 ? ' (it has no domains)' : ` (domains there: ${names.join(', ')})`;
}

// The domain's state now, to catch one started or stopped since the run looked.
export async function domainIsActive(virsh: Virsh, domain: string): Promise<boolean> {
  return stateIsActive(await virsh.attempt(['domstate', domain]), domain);
}

// `virsh domstate`'s answer: a QEMU process holds the disks (or a SendenseError saying why not known).
export function stateIsActive(result: ExecResult, domain: string): boolean {
  const state = answer(result, `read the state of domain ${domain}`).trim();
  return !/^(shut off|crashed)$/.test(state);
}
