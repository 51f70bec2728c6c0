// A network namespace the test owns, joined to this host by a veth pair with a /30 in
// 10.254.x.x: a "node" that really is another host as far as TCP is concerned.

import { randomBytes, randomInt } from 'node:crypto';
import { execa } from 'execa';

export interface TestNetns {
  readonly name: string;
  /** Address on this host's end of the veth. */
  readonly hubAddress: string;
  /** Address inside the namespace. */
  readonly nodeAddress: string;
  /** Take the namespace's end of the link down: packets vanish silently, like a pulled cable. */
  cut(): Promise<void>;
  remove(): Promise<void>;
}

// Returns the reason as a string when this environment does not allow namespaces.
export async function createNetns(): Promise<TestNetns | string> {
  const id = randomBytes(3).toString('hex');
  const name = `sendense-test-${id}`;
  const hostIf = `sdh${id}`;
  const nsIf = `sdn${id}`;
  const subnet = randomInt(1, 63) * 4;
  const third = randomInt(0, 255);
  const hubAddress = `10.254.${third}.${subnet + 1}`;
  const nodeAddress = `10.254.${third}.${subnet + 2}`;
  const ip = (...args: string[]) => execa('ip', args);
  const remove = async (): Promise<void> => {
    await execa('ip', ['link', 'del', hostIf], { reject: false });
    await execa('ip', ['netns', 'del', name], { reject: false });
  };
  try {
    await ip('netns', 'add', name);
    await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', name);
    await ip('addr', 'add', `${hubAddress}/30`, 'dev', hostIf);
    await ip('link', 'set', hostIf, 'up');
    await ip('-n', name, 'addr', 'add', `${nodeAddress}/30`, 'dev', nsIf);
    await ip('-n', name, 'link', 'set', nsIf, 'up');
    await ip('-n', name, 'link', 'set', 'lo', 'up');
  } catch (error) {
    await remove();
    return `network namespaces are not available here: ${(error as Error).message.split('\n')[0]}`;
  }
  return {
    name,
    hubAddress,
    nodeAddress,
    cut: async () => {
      await ip('-n', name, 'link', 'set', nsIf, 'down');
    },
    remove,
  };
}
