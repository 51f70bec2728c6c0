// A drill's isolated network on the node (docs/drills.md#the-isolated-network): a bridge of its
// own with no uplink and no host address, a tap per interface of the guest's on it (made here, not
// by libvirt, so that no host address lands on them either), and a network namespace joined to it
// by a veth pair, from which the tcp check probes the guest. Named after the run, recorded before it exists, and
// removed by those names only (never by a pattern), for the run's cleanup and for doctor alike.

import { createHash } from 'node:crypto';
import { SendenseError } from '../errors.js';
import type { NodeExec } from './virsh.js';

// The node resource doctor removes a killed drill's network by (src/doctor/resources/other-resources.ts).
export const DRILL_NETWORK_RESOURCE = 'drill-network';

/** The names the drill's network is made and removed by. */
export interface DrillNetworkFacts {
  /** The bridge (an interface name: at most 15 characters). */
  readonly bridge: string;
  /** The bridge's end of the veth pair; its other end is `eth0` in the namespace. */
  readonly veth: string;
  readonly netns: string;
  /** One tap a network interface of the guest's, in the stored definition's order. */
  readonly taps: readonly string[];
}

/** Taps a drill makes at most (one a character of base 36 in their names). */
export const MAX_DRILL_TAPS = 36;

// Interface names are at most 15 characters: a hash of the run id keeps them unique and short.
export function drillNetworkNames(runId: string, interfaces = 0): DrillNetworkFacts {
  const tag = createHash('sha256').update(runId).digest('hex').slice(0, 9);
  return {
    bridge: `sdbr-${tag}`,
    veth: `sdve-${tag}`,
    netns: `sendense-drill-${runId}`,
    taps: Array.from({ length: interfaces }, (_, index) => `sdtp${tag}${index.toString(36)}`),
  };
}

// Everything in one command on the node (an SSH round trip through a node); its exit status says
// which part failed. No address on the host's side: addrgenmode none keeps even an IPv6
// link-local address off the bridge, the veth and the taps (libvirt's own taps get one); the
// probe's address lives in the namespace only.
const MAKE = [
  'set -e',
  'ip link add name "$1" type bridge stp_state 0',
  'bridge=$1',
  'ip link set dev "$1" addrgenmode none',
  'ip link set dev "$1" up',
  'ip netns add "$3"',
  'ip link add name "$2" type veth peer name eth0 netns "$3"',
  'ip link set dev "$2" addrgenmode none',
  'ip link set dev "$2" master "$1"',
  'ip link set dev "$2" up',
  'ip -n "$3" link set dev lo up',
  '[ -z "$4" ] || ip -n "$3" addr add "$4" dev eth0',
  'ip -n "$3" link set dev eth0 up',
  'shift 4',
  'for tap in "$@"; do',
  '  ip tuntap add dev "$tap" mode tap',
  '  ip link set dev "$tap" addrgenmode none',
  '  ip link set dev "$tap" master "$bridge"',
  '  ip link set dev "$tap" up',
  'done',
].join('\n');

export async function makeDrillNetwork(exec: NodeExec, facts: DrillNetworkFacts, probe: string): Promise<void> {
  const made = await exec([
    'sh',
    '-c',
    MAKE,
    'sendense-drill-network',
    facts.bridge,
    facts.veth,
    facts.netns,
    probe,
    ...facts.taps,
  ]);
  if (made.exitCode !== 0)
    throw new SendenseError(
      `cannot make the drill's isolated network (bridge ${facts.bridge}, namespace ${facts.netns}): ${made.stderr.trim() || `exit ${made.exitCode}`}`,
    );
}

/** Whether any of the three is there (the run checks its names are free before recording them). */
export async function drillNetworkLeft(exec: NodeExec, facts: DrillNetworkFacts): Promise<string[]> {
  const left: string[] = [];
  for (const name of [facts.bridge, facts.veth, ...facts.taps])
    if ((await exec(['ip', 'link', 'show', 'dev', name])).exitCode === 0) left.push(`interface ${name}`);
  if ((await exec(['test', '-e', `/run/netns/${facts.netns}`])).exitCode === 0) left.push(`namespace ${facts.netns}`);
  return left;
}

// The taps and the veth first (a namespace's deletion frees its end only later, in the
// background), then the namespace, then the bridge; each only when it is there, so a second
// removal does nothing.
const REMOVE = [
  'bridge=$1 veth=$2 netns=$3',
  'shift 3',
  'for tap in "$@"; do if ip link show dev "$tap" >/dev/null 2>&1; then ip link del dev "$tap" || exit 104; fi; done',
  'if ip link show dev "$veth" >/dev/null 2>&1; then ip link del dev "$veth" || exit 101; fi',
  'if [ -e "/run/netns/$netns" ]; then ip netns del "$netns" || exit 102; fi',
  'if ip link show dev "$bridge" >/dev/null 2>&1; then ip link del dev "$bridge" || exit 103; fi',
].join('\n');

export async function removeDrillNetwork(exec: NodeExec, facts: DrillNetworkFacts): Promise<void> {
  const removed = await exec([
    'sh',
    '-c',
    REMOVE,
    'sendense-drill-network',
    facts.bridge,
    facts.veth,
    facts.netns,
    ...(facts.taps ?? []),
  ]);
  if (removed.exitCode !== 0) {
    const what = {
      101: `veth ${facts.veth}`,
      102: `namespace ${facts.netns}`,
      103: `bridge ${facts.bridge}`,
      104: 'taps',
    }[removed.exitCode as 101 | 102 | 103 | 104];
    throw new SendenseError(
      `cannot remove the drill's ${what ?? 'network'}: ${removed.stderr.trim() || `exit ${removed.exitCode}`}`,
    );
  }
}

// A connection attempt from the namespace, bounded by `seconds`: bash's /dev/tcp (no nc needed on
// the node), the address and port as arguments, never spliced into the script.
const CONNECT = 'exec 3<>"/dev/tcp/$1/$2"';

/** undefined when the port answered; else why not (refused, unreachable, no answer in time). */
export async function probeTcp(
  exec: NodeExec,
  netns: string,
  address: string,
  port: number,
  seconds: number,
): Promise<string | undefined> {
  const probed = await exec([
    'ip',
    'netns',
    'exec',
    netns,
    'timeout',
    String(seconds),
    'bash',
    '-c',
    CONNECT,
    'sendense-tcp-probe',
    address,
    String(port),
  ]);
  if (probed.exitCode === 0) return undefined;
  if (probed.exitCode === 124) return `no answer within ${seconds} s`;
  const said = probed.stderr.trim().split('\n').pop() ?? '';
  if (/refused/i.test(said)) return 'connection refused';
  if (/no route|unreachable/i.test(said)) return 'no route to the address (nothing on the bridge answers for it)';
  return said === '' ? `exit ${probed.exitCode}` : said.replace(/^.*?: line \d+: /, '');
}
