#!/usr/bin/env bash
# The libvirt quick-start demo (scripts/demo.sh --libvirt runs it after setup): libvirt's daemons
# answering (started when none does), a tiny guest sendense-demo defined and started, then the
# shipped plans/sendense-demo-live.yaml backs it up while it runs (a full, then an incremental
# while the guest keeps writing), plans/sendense-demo-restore.yaml restores the latest point and
# verifies it; the guest is shut down, backed up once more from its images, restored again, and
# the restored disks compared with its disks byte for byte. On every exit (done, failed, Ctrl+C)
# the guest is removed and the daemons the demo started are stopped. The backups, the restored
# files and the state database stay, as after any run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/libvirt-daemons.sh
source scripts/demo-guest.sh
source scripts/demo-state.sh

# The demo's plans: the shipped ones (SENDENSE_DEMO_PLANS: copies of them, as its test uses).
plans="${SENDENSE_DEMO_PLANS:-plans}"
live="$plans/sendense-demo-live.yaml"
restore="$plans/sendense-demo-restore.yaml"
sr() { node bin/sendense-run.js "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
begun=$SECONDS

if [ "$(id -u)" != 0 ]; then
  echo "demo: --libvirt runs as root: it starts libvirt's system daemon (qemu:///system) and defines a domain there" >&2
  exit 1
fi

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  say "cleaning up"
  demo_guest_remove
  echo "removed the demo domain $demo_guest_name (undefined with its checkpoints) and $demo_guest_dir"
  libvirt_daemons_stop || true
  demo_state_hand_back || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
demo_state_prepare

say "libvirt on this host"
libvirt_daemons_start

say "creating the demo guest $demo_guest_name"
echo "the host's kernel $(demo_guest_kernel_version) with a busybox initramfs built now; disks vda 128 MiB and vdb 64 MiB (qcow2) in $demo_guest_dir"
started=$SECONDS
demo_guest_create
echo "booted and writing in $((SECONDS - started)) s: a counter to vda at 0 and 64 MiB and vdb at 1 MiB, twice a second (round $(demo_guest_round) now)"

say "validating the demo plans"
sr validate "$live" "$restore"

say "run 1: full backup of the running guest ($live)"
echo "(the guest is new each demo: after an earlier demo this run warns that the last chain's checkpoint is gone and starts a new chain)"
round="$(demo_guest_round)"
sr "$live"

say "the guest keeps writing while it is backed up: round $round when run 1 began, round $(demo_guest_round) now"

say "run 2: incremental of the running guest (only the blocks it changed since run 1)"
sr "$live"

say "backups of $demo_guest_name"
sr backups --vm "$demo_guest_name"

target="$(sed -n 's/^ *path: *\([^ #]*{key}[^ #]*\).*/\1/p' "$restore")"
counters() {
  echo "vda@0 round $(demo_disk_counter "${target/\{key\}/2000}" 0 qcow2), vda@64MiB round $(demo_disk_counter "${target/\{key\}/2000}" 67108864 qcow2), vdb@1MiB round $(demo_disk_counter "${target/\{key\}/2001}" 1048576 qcow2)"
}

say "restore the latest point ($restore: verified against the digests taken at backup time)"
sr "$restore"
echo "the restored disks hold one instant of the running guest: $(counters) (the guest is at round $(demo_guest_round) now)"
echo "(each round writes vda@0, then vda@64MiB, then vdb@1MiB: one instant shows the same round on all three, or is caught between two of those writes)"

say "shut the guest down, then run 3: an incremental of the shut-off domain, from its images"
virsh -q -c qemu:///system destroy "$demo_guest_name" >/dev/null
echo "$demo_guest_name shut off after round $(demo_guest_round)"
sr "$live"

say "restore that point and compare the restored disks with the guest's, byte for byte"
sr "$restore"
for pair in vda:2000 vdb:2001; do
  disk="${pair%%:*}" key="${pair##*:}"
  qemu-img compare -q -f qcow2 -F qcow2 "$demo_guest_dir/$disk.qcow2" "${target/\{key\}/$key}"
  echo "disk $key ($disk): ${target/\{key\}/$key} is identical to $demo_guest_dir/$disk.qcow2"
done
echo "restored: $(counters)"

say "run history"
sr history --plan sendense-demo-live --limit 5

say "done in $((SECONDS - begun)) s: a running libvirt VM backed up (full and incremental), restored, verified and compared"
