// Every process sendense-run starts carries its owner in its environment
// (SENDENSE_OWNER=<pid>:<start ticks>:<state database>), set before the first child can exist. A
// `kill -9` between a spawn and the moment its PID is recorded therefore leaves no process that
// cannot be found: `doctor` stops exactly those whose owner is gone and whose database is its own.
// Hooks are the user's programs and are not tagged (see hooks/run-hook.ts).

import { readdirSync, readFileSync } from 'node:fs';
import { isProcessAlive, processStartTicks } from './process-identity.js';

export const OWNER_VARIABLE = 'SENDENSE_OWNER';

// Called once by the CLI: the children it starts from now on inherit the tag.
export function tagChildrenOfThisProcess(stateDatabase: string): void {
  process.env[OWNER_VARIABLE] = ownerTag(process.pid, processStartTicks(process.pid) ?? 0, stateDatabase);
}

export function ownerTag(pid: number, startTicks: number, stateDatabase: string): string {
  return `${pid}:${startTicks}:${stateDatabase}`;
}

export interface OwnerTag {
  readonly pid: number;
  readonly startTicks: number;
  readonly stateDatabase: string;
}

export function parseOwnerTag(tag: string): OwnerTag | undefined {
  const match = /^([0-9]+):([0-9]+):(.*)$/s.exec(tag);
  return match === null ? undefined : { pid: Number(match[1]), startTicks: Number(match[2]), stateDatabase: match[3] };
}

// This process's own tag, with the state database its children carry (none when it named none).
export function thisProcessOwnerTag(): string {
  const inherited = parseOwnerTag(process.env[OWNER_VARIABLE] ?? '');
  return ownerTag(process.pid, processStartTicks(process.pid) ?? 0, inherited?.stateDatabase ?? '');
}

export interface TaggedProcess {
  readonly pid: number;
  readonly startTicks: number;
  readonly ownerPid: number;
  readonly command: string;
}

// Live processes tagged with this state database whose owning sendense-run is gone.
export function orphansOf(stateDatabase: string): TaggedProcess[] {
  const found: TaggedProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    const tag = ownerTagOf(Number(name));
    const owner = tag === undefined ? undefined : parseOwnerTag(tag);
    if (owner === undefined || owner.stateDatabase !== stateDatabase) continue;
    const ownerPid = owner.pid;
    if (isProcessAlive(ownerPid, owner.startTicks)) continue;
    const startTicks = processStartTicks(Number(name));
    if (startTicks === undefined) continue;
    found.push({ pid: Number(name), startTicks, ownerPid, command: commandOf(Number(name)) });
  }
  return found;
}

// Unreadable for processes of other users (unless root): those are not ours to stop anyway.
function ownerTagOf(pid: number): string | undefined {
  let environ: string;
  try {
    environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return undefined;
  }
  const prefix = `${OWNER_VARIABLE}=`;
  return (
    environ
      .split('\0')
      .find((entry) => entry.startsWith(prefix))
      ?.slice(prefix.length) || undefined
  );
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(0, 2).join(' ');
  } catch {
    return '?';
  }
}
