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
const virsh = (...args) => ['virsh', '--quiet', '-c', 'qemu:///system', ...args];
// libvirt answers in milliseconds or a job lock times out (30 s): a call that hangs ends the bench.
const CALL_TIMEOUT_MS = 120_000;
const call = (argv) => run(argv[0], argv.slice(1), { timeout: CALL_TIMEOUT_MS });

/** Runs argv to its end: its seconds, spawn to exit (a virsh call, or a runtime's start: `node -e 0`). */
export async function timedCall(argv) {
  const from = process.hrtime.bigint();
  await call(argv);
  return seconds(from);
}

// One floor round on `guest` (a startGuest domain; its disks are `targets`), its job XML under
// `parent`, its scratch files in a folder of their own in the guest's dir: QEMU's user reaches it,
// and a bench killed mid-job leaves them to the next startGuest's sweep of leftover guests, whose
// destroy also ends the job and any freeze. Resolves with each call's seconds and their sum; the
// guest is thawed whatever fails.
export async function liveFloor(guest, targets, parent) {
  const domain = guest.name;
  const listed = await call(virsh('checkpoint-list', domain, '--name', '--leaves'));
  const checkpoint = listed.stdout.split('\n').find(Boolean);
  if (!checkpoint) throw new Error(`${domain} has no checkpoint to begin an incremental job from`);
  const dir = mkdtempSync(join(guest.dir, 'floor-'));
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
    calls.freeze = await timedCall(virsh('domfsfreeze', domain));
    try {
      calls['backup-begin'] = await timedCall(virsh('backup-begin', domain, xml));
    } finally {
      calls.thaw = await timedCall(virsh('domfsthaw', domain));
    }
    const from = process.hrtime.bigint();
    await call(virsh('domjobabort', domain));
    while (!/Job type:\s+None/.test((await call(virsh('domjobinfo', domain))).stdout)) {
      if (seconds(from) * 1000 > CALL_TIMEOUT_MS) throw new Error(`the backup job of ${domain} did not end`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    calls['job end'] = seconds(from);
    return { calls, seconds: Object.values(calls).reduce((a, b) => a + b, 0) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(xml, { force: true });
  }
}
