// A libvirt too old for the backup API is refused in one line before anything is taken. libvirt
// older than 7.2 cannot be installed here: virsh is a stand-in answering as libvirt 6.0 would.

import { describe, expect, it } from 'vitest';
import { inspectDomain } from '../../src/libvirt/domain.js';
import { virshOn } from '../../src/libvirt/virsh.js';

describe('a libvirt too old for the backup API (stand-in virsh answering as libvirt 6.0)', () => {
  it('is refused, naming the version found and the one needed', async () => {
    const asked: string[][] = [];
    const virsh = virshOn(async (argv) => {
      asked.push([...argv]);
      return {
        exitCode: 0,
        stdout:
          'Compiled against library: libvirt 6.0.0\nUsing library: libvirt 6.0.0\nRunning against daemon: 6.0.0\n',
        stderr: '',
      };
    }, 'qemu:///system');
    await expect(inspectDomain(virsh, 'web01')).rejects.toThrow(
      'libvirt 6.0.0 at qemu:///system is too old for the backup API: 7.2.0 or newer is needed',
    );
    // Only questions were asked (the domain's facts come with the version): nothing taken or changed.
    // Questions may come one per virsh or batched in one (docs/how-it-works.md): each command's first word.
    const questions = ['version', 'domstate', 'dominfo', 'dumpxml', 'checkpoint-list'];
    const commands = asked.flatMap((argv) =>
      argv[4]!
        .split(/ ; echo sendense-virsh-batch-\S+(?: ; )?/)
        .filter(Boolean)
        .map((command) => command.split(' ')[0]!.replaceAll("'", '')),
    );
    expect(commands).toContain('version');
    expect(commands.filter((command) => !questions.includes(command))).toEqual([]);
  });
});
