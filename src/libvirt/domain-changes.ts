// The plan's changes made to a recovered or replica domain's definition
// (docs/instant-recovery.md#changing-the-recovered-domain): memory, vCPUs, where each interface
// goes. Edited as a DOM, never as text: the definition is the original's, and whoever controlled
// the original controlled every name in it.

import { DOMParser, XMLSerializer, type Element } from '@xmldom/xmldom';
import { describeInterfaceNetwork } from '../plan/domain-changes.js';
import type { DomainChanges, InterfaceMove, InterfaceNetwork } from '../plan/types.js';
import { children, firstChild } from './domain-xml.js';

/** A definition with the changes made, and what changed, one line each. */
export interface ChangedDomain {
  readonly xml: string;
  readonly notes: readonly string[];
}

const KiB = 1024;
// libvirt's memory units (https://libvirt.org/formatdomain.html#memory-allocation), in bytes.
const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  bytes: 1,
  kb: 1000,
  k: KiB,
  kib: KiB,
  mb: 1000 ** 2,
  m: KiB ** 2,
  mib: KiB ** 2,
  gb: 1000 ** 3,
  g: KiB ** 3,
  gib: KiB ** 3,
  tb: 1000 ** 4,
  t: KiB ** 4,
  tib: KiB ** 4,
};

export function applyDomainChanges(xml: string, changes: DomainChanges): ChangedDomain {
  const document = new DOMParser({ onError: () => undefined }).parseFromString(xml, 'text/xml');
  const domain = document.documentElement;
  if (domain === null || domain.nodeName !== 'domain') throw new Error('not a libvirt domain XML document');
  const notes: string[] = [];
  if (changes.memory !== undefined) setMemory(domain, changes.memory, notes);
  if (changes.vcpus !== undefined) setVcpus(domain, changes.vcpus, notes);
  if (changes.memory !== undefined || changes.vcpus !== undefined) dropNuma(domain, notes);
  if (changes.network.length > 0) moveInterfaces(domain, changes.network, notes);
  return { xml: new XMLSerializer().serializeToString(document), notes };
}

/** What each interface of a definition is on: a network, a bridge, or (undefined) something only '*' names. */
export function interfaceNetworks(xml: string): (InterfaceNetwork | undefined)[] {
  const document = new DOMParser({ onError: () => undefined }).parseFromString(xml, 'text/xml');
  const devices = document.documentElement === null ? undefined : firstChild(document.documentElement, 'devices');
  return (devices === undefined ? [] : children(devices, 'interface')).map(networkOf);
}

// The plan's keys that name no interface of the definition: a typo would leave the original's network in place.
export function unmatchedMoves(xml: string, moves: readonly InterfaceMove[]): InterfaceNetwork[] {
  const present = interfaceNetworks(xml);
  return moves.flatMap(({ from }) =>
    from === '*' || present.some((on) => on !== undefined && sameNetwork(on, from)) ? [] : [from],
  );
}

// <memory> and <currentMemory> (all of it in use at boot), in KiB; never above a <maxMemory>.
function setMemory(domain: Element, bytes: number, notes: string[]): void {
  const kib = Math.ceil(bytes / KiB);
  const max = firstChild(domain, 'maxMemory');
  if (max !== undefined && memoryBytes(max) < kib * KiB)
    throw new Error(
      `the definition's maxMemory (${shown(max.textContent)} ${shown(max.getAttribute('unit') ?? 'KiB')}) is below changes.memory`,
    );
  const was = firstChild(domain, 'memory');
  notes.push(
    `memory: ${kib / KiB} MiB${was === undefined ? '' : `, not the original's ${Math.round(memoryBytes(was) / KiB ** 2)} MiB`}`,
  );
  for (const name of ['memory', 'currentMemory']) {
    const element = firstChild(domain, name) ?? (name === 'memory' ? appendAfter(domain, 'memory', 'name') : undefined);
    if (element === undefined) continue;
    element.setAttribute('unit', 'KiB');
    setText(element, String(kib));
  }
}

// <vcpu> all online; a topology of that many sockets; no per-vCPU settings for vCPUs that are gone.
function setVcpus(domain: Element, count: number, notes: string[]): void {
  const vcpu = firstChild(domain, 'vcpu') ?? appendAfter(domain, 'vcpu', 'memory');
  const was = (vcpu.textContent ?? '').trim();
  vcpu.removeAttribute('current');
  setText(vcpu, String(count));
  notes.push(`vCPUs: ${count}${was === '' ? '' : `, not the original's ${shown(was)}`}`);
  for (const vcpus of children(domain, 'vcpus')) domain.removeChild(vcpus);
  const topology = firstChild(firstChild(domain, 'cpu') ?? domain, 'topology');
  if (topology !== undefined) {
    const product = ['sockets', 'dies', 'cores', 'threads']
      .map((name) => Number(topology.getAttribute(name) ?? '1'))
      .reduce((a, b) => a * b, 1);
    if (product !== count) {
      for (const name of ['dies', 'cores', 'threads'])
        if (topology.hasAttribute(name)) topology.setAttribute(name, '1');
      topology.setAttribute('sockets', String(count));
      notes.push(`CPU topology: ${count} socket(s) of one core, one thread`);
    }
  }
  const cputune = firstChild(domain, 'cputune');
  for (const pin of cputune === undefined ? [] : children(cputune, 'vcpupin'))
    if (Number(pin.getAttribute('vcpu')) >= count) cputune!.removeChild(pin);
}

// NUMA cells add up to the original's memory and vCPUs: with either changed they cannot stay.
function dropNuma(domain: Element, notes: string[]): void {
  const cpu = firstChild(domain, 'cpu');
  const numa = cpu === undefined ? undefined : firstChild(cpu, 'numa');
  if (numa === undefined) return;
  cpu!.removeChild(numa);
  for (const tune of children(domain, 'numatune')) domain.removeChild(tune);
  notes.push("the original's NUMA cells left out: they divide its memory and vCPUs");
}

// Each interface onto the network its key names (else '*''s), or left out.
function moveInterfaces(domain: Element, moves: readonly InterfaceMove[], notes: string[]): void {
  const devices = firstChild(domain, 'devices');
  for (const iface of devices === undefined ? [] : children(devices, 'interface')) {
    const on = networkOf(iface);
    const move =
      moves.find(({ from }) => from !== '*' && on !== undefined && sameNetwork(on, from)) ??
      moves.find(({ from }) => from === '*');
    if (move === undefined) continue;
    const what =
      on === undefined ? `interface (${shown(iface.getAttribute('type') ?? '?')})` : `interface on ${describeOn(on)}`;
    if (move.to === 'none') {
      devices!.removeChild(iface);
      notes.push(`${what} left out`);
      continue;
    }
    retarget(iface, move.to);
    notes.push(`${what}: on ${describeInterfaceNetwork(move.to)}`);
  }
}

// The interface on another network or bridge: its old source and whatever belonged to it go; model and address stay.
function retarget(iface: Element, to: InterfaceNetwork): void {
  const type = iface.getAttribute('type') ?? '';
  for (const name of ['source', 'virtualport', 'vlan', 'target', 'mac'])
    for (const element of children(iface, name)) iface.removeChild(element);
  // A passthrough or vhost-user interface's driver is the host device's, not a bridge's.
  if (!['network', 'bridge', 'ethernet', 'user', 'direct'].includes(type))
    for (const driver of children(iface, 'driver')) iface.removeChild(driver);
  iface.setAttribute('type', to.type);
  const source = iface.ownerDocument!.createElement('source');
  source.setAttribute(to.type, to.name);
  iface.insertBefore(source, iface.firstChild);
}

function networkOf(iface: Element): InterfaceNetwork | undefined {
  const type = iface.getAttribute('type');
  const name = firstChild(iface, 'source')?.getAttribute(type === 'bridge' ? 'bridge' : 'network');
  if ((type === 'network' || type === 'bridge') && name) return { type, name };
  return undefined;
}

function sameNetwork(a: InterfaceNetwork, b: InterfaceNetwork): boolean {
  return a.type === b.type && a.name === b.name;
}

function describeOn(on: InterfaceNetwork): string {
  return `${on.type} ${shown(on.name)}`;
}

// A name from the original's XML, printable on one line whatever it holds.
function shown(text: string | null): string {
  return JSON.stringify((text ?? '').trim().slice(0, 80)).slice(1, -1);
}

/** A <memory>-like element's size in bytes. */
export function memoryBytes(element: Element): number {
  const unit = UNITS[(element.getAttribute('unit') ?? 'KiB').toLowerCase()] ?? KiB;
  return Number((element.textContent ?? '').trim()) * unit;
}

function setText(element: Element, text: string): void {
  while (element.firstChild) element.removeChild(element.firstChild);
  element.appendChild(element.ownerDocument!.createTextNode(text));
}

// A new child <name> after the first <after> (else first).
function appendAfter(parent: Element, name: string, after: string): Element {
  const element = parent.ownerDocument!.createElement(name);
  const anchor = firstChild(parent, after);
  parent.insertBefore(element, anchor === undefined ? parent.firstChild : anchor.nextSibling);
  return element;
}
