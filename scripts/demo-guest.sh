# Sourced by scripts/demo-libvirt.sh: the demo's libvirt guest. A tiny VM that boots on this host
# under software emulation in ~10 s: the host's own kernel (/boot/vmlinuz-*) with a busybox
# initramfs built here (its virtio modules, qemu-guest-agent when installed), no OS image to
# download. Its init writes a counter to both disks twice a second, so the disks change while it
# is backed up, and a copy shows one instant (vda@0, vda@64M and vdb@1M hold the same round).

demo_guest_name=sendense-demo
# libvirt's usual place for images: QEMU's user (libvirt-qemu) can reach it, unlike a 0700 checkout.
demo_guest_dir=/var/lib/libvirt/images/sendense-demo

# The newest /boot/vmlinuz-* that has its modules (not `uname -r`: a container's host may run another).
demo_guest_kernel_version() {
  local version
  for version in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's|.*/vmlinuz-||' | sort -rV); do
    [ -d "/lib/modules/$version" ] && { echo "$version"; return 0; }
  done
  echo "demo: no /boot/vmlinuz-* with its /lib/modules (install linux-image-amd64, or linux-image-generic on Ubuntu)" >&2
  return 1
}

# The init: modules, the agent on its virtio port, then the counter loop (each write synced, O_DIRECT).
demo_guest_init() {
  cat <<'INIT'
#!/bin/sh
export PATH=/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /mods/order); do insmod /mods/$m.ko 2>/dev/null; done
i=0; while [ ! -b /dev/vdb ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
for p in /sys/class/virtio-ports/*; do
  [ -x /usr/sbin/qemu-ga ] && [ "$(cat $p/name 2>/dev/null)" = org.qemu.guest_agent.0 ] && { qemu-ga -m virtio-serial -p /dev/${p##*/} -t /run & }
done
n=0
while true; do
  n=$((n+1)); printf 'COUNTER %010d\n' $n > /tmp/c
  dd if=/tmp/c of=/tmp/blk bs=4096 count=1 conv=sync 2>/dev/null
  dd if=/tmp/blk of=/dev/vda bs=4096 seek=0 conv=fsync,notrunc oflag=direct 2>/dev/null
  dd if=/tmp/blk of=/dev/vda bs=4096 seek=16384 conv=fsync,notrunc oflag=direct 2>/dev/null
  dd if=/tmp/blk of=/dev/vdb bs=4096 seek=256 conv=fsync,notrunc oflag=direct 2>/dev/null
  echo "W $n"
  sleep 0.5
done
INIT
}

# DIR/initrd.cpio: busybox-static, the virtio modules of KVER, qemu-ga with its libraries, the init.
demo_guest_initramfs() {
  local out="$1" kver="$2" root m found lib
  root="$(mktemp -d)"
  mkdir -p "$root"/{bin,proc,sys,dev,tmp,mods,run,var/run,usr/sbin}
  cp /bin/busybox "$root/bin/busybox"
  for m in sh mount insmod dd sleep printf cat ls echo mkdir; do ln -s busybox "$root/bin/$m"; done
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk virtio_console; do
    found="$(find "/lib/modules/$kver" -name "$m.ko*" | head -1)"
    [ -n "$found" ] || continue
    case "$found" in
      *.ko) cp "$found" "$root/mods/$m.ko" ;;
      *.ko.xz) xz -dc "$found" >"$root/mods/$m.ko" ;;
      *.ko.zst) zstd -dcq "$found" >"$root/mods/$m.ko" ;;
      *.ko.gz) gzip -dc "$found" >"$root/mods/$m.ko" ;;
    esac
    echo "$m" >>"$root/mods/order"
  done
  if [ -x /usr/sbin/qemu-ga ]; then
    cp /usr/sbin/qemu-ga "$root/usr/sbin/"
    for lib in $(ldd /usr/sbin/qemu-ga | grep -o '/[^ ]*'); do
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  fi
  demo_guest_init >"$root/init"
  chmod 755 "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet) >"$out"
  rm -rf "$root"
}

# The domain's XML: software emulation (no KVM needed), two virtio disks, the console in a file,
# the guest agent's channel, no network.
demo_guest_xml() {
  local dir="$1"
  cat <<XML
<domain type='qemu'>
  <name>$demo_guest_name</name><description>sendense-run demo guest (scripts/demo.sh --libvirt), removed when the demo ends</description>
  <memory unit='MiB'>256</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>$dir/vmlinuz</kernel><initrd>$dir/initrd.cpio</initrd><cmdline>console=ttyS0 panic=-1 loglevel=4</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/><source file='$dir/vda.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/><source file='$dir/vdb.qcow2'/><target dev='vdb' bus='virtio'/></disk>
    <serial type='file'><source path='$dir/console.log' append='on'/><target port='0'/></serial>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <controller type='usb' model='none'/><memballoon model='none'/>
  </devices>
</domain>
XML
}

# Defined and started; returns once it writes (and its agent answers, when it has one).
demo_guest_create() {
  local dir="$demo_guest_dir" kver i
  kver="$(demo_guest_kernel_version)"
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 755 "$dir"
  cp "/boot/vmlinuz-$kver" "$dir/vmlinuz"
  demo_guest_initramfs "$dir/initrd.cpio" "$kver"
  chmod 644 "$dir/vmlinuz" "$dir/initrd.cpio"
  qemu-img create -q -f qcow2 "$dir/vda.qcow2" 128M
  qemu-img create -q -f qcow2 "$dir/vdb.qcow2" 64M
  # Some data already there, so the full backup has something to copy.
  qemu-io -f qcow2 -c 'write -P 0x11 2M 24M' -c 'write -P 0x22 80M 8M' "$dir/vda.qcow2" >/dev/null
  qemu-io -f qcow2 -c 'write -P 0x33 4M 8M' "$dir/vdb.qcow2" >/dev/null
  demo_guest_xml "$dir" >"$dir/domain.xml"
  virsh -q -c qemu:///system define "$dir/domain.xml" >/dev/null
  virsh -q -c qemu:///system start "$demo_guest_name" >/dev/null
  for i in $(seq 600); do
    grep -q '^W 2' "$dir/console.log" 2>/dev/null && break
    sleep 0.5
  done
  grep -q '^W 2' "$dir/console.log" 2>/dev/null || { echo "demo: the guest did not boot within 5 minutes; its console: $dir/console.log" >&2; return 1; }
  if [ -x /usr/sbin/qemu-ga ]; then
    for i in $(seq 60); do
      virsh -c qemu:///system qemu-agent-command "$demo_guest_name" '{"execute":"guest-ping"}' --timeout 2 >/dev/null 2>&1 && return 0
      sleep 1
    done
    echo "demo: the guest's agent does not answer (the backups are crash-consistent instead of frozen)" >&2
  fi
}

# The round the guest wrote last, from its console.
demo_guest_round() {
  grep -a '^W ' "$demo_guest_dir/console.log" 2>/dev/null | tail -1 | tr -dc '0-9'
}

# The round a disk image (FORMAT) holds at OFFSET (empty: never written), read even while QEMU has it open (-U).
demo_disk_counter() {
  # read -v prints hex and then the bytes as text (a space as "."): the text columns, joined.
  qemu-io -U -r -f "$3" -c "read -v $2 19" "$1" | awk '/^[0-9a-f]+:/ { text = text $NF } END { print text }' |
    sed -n 's/^COUNTER\.0*\([0-9][0-9]*\).*/\1/p'
}

# Gone, whatever state it is in: destroyed, undefined with its checkpoints' metadata, its files removed.
demo_guest_remove() {
  if virsh -q -c qemu:///system domstate "$demo_guest_name" >/dev/null 2>&1; then
    virsh -q -c qemu:///system destroy "$demo_guest_name" >/dev/null 2>&1 || true
    virsh -q -c qemu:///system undefine "$demo_guest_name" --checkpoints-metadata >/dev/null 2>&1 || true
  fi
  rm -rf "$demo_guest_dir"
}
