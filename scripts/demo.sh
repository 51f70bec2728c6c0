#!/usr/bin/env bash
# The quick-start demo: makes a small demo VM "pgtest1" (two sparse qcow2 disks with some data)
# where plans/pgtest1-nightly.yaml expects it, takes a backup, changes some blocks, takes an
# incremental, lists the backups, restores the latest point and checks the restored disks equal
# the source byte for byte. Run it again and it simply adds another incremental.
# --libvirt: a running libvirt VM instead (scripts/demo-libvirt.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "") ;;
  --libvirt)
    # Only what the demo uses, libvirt and its guest's parts included.
    scripts/setup.sh --demo-libvirt
    exec scripts/demo-libvirt.sh
    ;;
  *)
    echo "usage: scripts/demo.sh [--libvirt]" >&2
    exit 2
    ;;
esac
# Only what the demo uses (scripts/test.sh installs the rest the tests need).
scripts/setup.sh --demo

source scripts/demo-state.sh
vms=/var/lib/sendense/vms
# State: $SENDENSE_DB if set, else the default (/var/lib/sendense/sendense.db for root), wherever
# the demo is started from.
sr() { node bin/sendense-run.js "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if ! demo_state_prepare 2>/dev/null || ! mkdir -p "$vms" 2>/dev/null || [ ! -w "$vms" ]; then
  echo "demo: cannot write $vms (the demo VM lives where plans/pgtest1-nightly.yaml expects it); run as root or create it writable" >&2
  exit 1
fi
trap demo_state_hand_back EXIT

if [ ! -f "$vms/pgtest1-disk0.qcow2" ] || [ ! -f "$vms/pgtest1-disk1.qcow2" ]; then
  say "creating demo VM pgtest1 in $vms (2 sparse disks: 1 GiB and 300 MiB + 12 KiB)"
  qemu-img create -q -f qcow2 "$vms/pgtest1-disk0.qcow2" 1G
  qemu-img create -q -f qcow2 "$vms/pgtest1-disk1.qcow2" $((300 * 1024 * 1024 + 12288))
  qemu-io -f qcow2 -c 'write -P 0x11 0 48M' -c 'write -P 0x22 600M 16M' -c 'write -P 0x33 1020M 4M' "$vms/pgtest1-disk0.qcow2" >/dev/null
  qemu-io -f qcow2 -c 'write -P 0x44 1M 24M' -c 'write -P 0x55 300M 12K' "$vms/pgtest1-disk1.qcow2" >/dev/null
fi

say "validating the shipped plans"
sr validate plans examples

say "dry run of plans/pgtest1-nightly.yaml"
sr plans/pgtest1-nightly.yaml --dry-run

say "run 1: backup (a full the first time)"
sr plans/pgtest1-nightly.yaml

say "the VM writes: new data, a range overwritten with zeroes, a discard"
qemu-io -f qcow2 -c "write -P 0x$(printf %02x $((RANDOM % 200 + 16))) 8M 6M" -c 'write -z 600M 2M' -c 'discard 40M 4M' "$vms/pgtest1-disk0.qcow2" >/dev/null
qemu-io -f qcow2 -c "write -P 0x$(printf %02x $((RANDOM % 200 + 16))) 2M 3M" "$vms/pgtest1-disk1.qcow2" >/dev/null

say "run 2: incremental (only the changed blocks)"
sr plans/pgtest1-nightly.yaml

say "backups of pgtest1"
sr backups --vm pgtest1

say "restore the latest point (plans/pgtest1-restore.yaml, verified)"
sr plans/pgtest1-restore.yaml

say "restored disks compared with the source"
for n in 0 1; do
  key=$((2000 + n))
  qemu-img compare -q -f qcow2 -F qcow2 "$vms/pgtest1-disk$n.qcow2" "/var/lib/sendense/restore/pgtest1-$key.qcow2"
  echo "disk $key: restored image is identical to $vms/pgtest1-disk$n.qcow2"
done

say "run history"
sr history --plan pgtest1-nightly --limit 5
