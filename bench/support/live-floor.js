// The floor of a live incremental that the shared tools set, timed the way a careful shell script
// would run it: the calls to libvirt that any pull-mode backup of a running, frozen guest makes,
// each a `virsh` process of its own, one after another — freeze the guest's filesystems, begin a
// backup job with changes since the domain's newest checkpoint, thaw, end the job and wait until
// libvirt says it is gone — and, apart, the start of the runtime a CLI runs on (`node -e 0`,
// `python3 -c 'import libvirt'`). The job reads nothing and leaves no checkpoint: the domain's chain
// is the same after it. bench/README.md#the-floor-of-a-live-incremental-issue-82.
import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const seconds = (from) => Number(process.hrtime.bigint() - from) / 1e9;

async function timed(argv) {
  const from = process.hrtime.bigint();
  await run(argv[0], argv.slice(1), { timeout: 120_000 });
  return seconds(from);
}

// The start of a runtime alone, in seconds (spawn to exit).
export const runtimeStart = (argv) => timed(argv);

// One floor round on `domain` (whose disks are `targets`), its job XML under `parent`, its scratch
// files in a folder of their own under /var/tmp (QEMU's user must reach it). Resolves with each
// call's seconds and their sum; the guest is thawed whatever fails.
export async function liveFloor(domain, targets, parent) {
  const virsh = (...args) => ['virsh', '--quiet', '-c', 'qemu:///system', ...args];
  const listed = await run('virsh', [
    '--quiet',
    '-c',
    'qemu:///system',
    'checkpoint-list',
    domain,
    '--name',
    '--leaves',
  ]);
  const checkpoint = listed.stdout.split('\n').find(Boolean);
  if (!checkpoint) throw new Error(`${domain} has no checkpoint to begin an incremental job from`);
  const dir = mkdtempSync('/var/tmp/sendense-bench-floor-');
  // QEMU writes the scratch files and the socket as the user it runs as.
  const qemuPid = readFileSync(`/run/libvirt/qemu/${domain}.pid`, 'utf8').trim();
  const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${qemuPid}/status`, 'utf8'))[1]);
  chownSync(dir, uid, -1);
  const xml = join(parent, `${domain}-floor.xml`);
  writeFileSync(
    xml,
    `<domainbackup mode='pull'><incremental>${checkpoint}</incremental>` +
      `<server transport='unix' socket='${dir}/nbd.sock'/><disks>` +
      targets
        .map((t) => `<disk name='${t}' backup='yes' type='file'><scratch file='${dir}/${t}.scratch'/></disk>`)
        .join('') +
      '</disks></domainbackup>',
  );
  try {
    const calls = {};
    calls.freeze = await timed(virsh('domfsfreeze', domain));
    try {
      calls['backup-begin'] = await timed(virsh('backup-begin', domain, xml));
    } finally {
      calls.thaw = await timed(virsh('domfsthaw', domain));
    }
    const from = process.hrtime.bigint();
    await run('virsh', ['--quiet', '-c', 'qemu:///system', 'domjobabort', domain]);
    for (;;) {
      const { stdout } = await run('virsh', ['--quiet', '-c', 'qemu:///system', 'domjobinfo', domain]);
      if (/Job type:\s+None/.test(stdout)) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    calls['job end'] = seconds(from);
    return { calls, seconds: Object.values(calls).reduce((a, b) => a + b, 0) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(xml, { force: true });
  }
}
