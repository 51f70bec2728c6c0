#!/usr/bin/env bash
# Installs what sendense-run needs on a bare Debian/Ubuntu machine (when missing), then the npm
# packages and the build. Safe to run again: it only does what is not done yet. --demo: only the
# packages the demo (scripts/demo.sh) uses; --demo-libvirt: those and libvirt's (demo.sh --libvirt).
# Each long step is announced before it starts and its duration printed when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

# npm ci (most of it compiling SQLite for better-sqlite3) needs only Node.js and the addons' build
# tools: where the machine has them, it runs while apt installs the rest, its log printed when done.
npm_pid=""
npm_log="$(mktemp)"
policy=""
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
# On any exit: npm ci stopped if it still runs (setup failed before waiting for it), the log and
# the policy-rc.d below removed.
cleanup() {
  [ -z "$npm_pid" ] || kill "$npm_pid" 2>/dev/null || true
  rm -f "$npm_log"
  [ -z "$policy" ] || $sudo rm -f "$policy"
}
trap cleanup EXIT
# "setup: WHAT took N s" for a step begun at step_begun.
step_begun=0
took() { echo "setup: $1 took $((SECONDS - step_begun)) s"; }
# The node_modules npm ci made for this package-lock.json and this Node.js is kept under
# ~/.cache/sendense-run/npm-ci: a later clone on the same machine copies it (seconds) instead of
# running npm ci again (1-2 minutes, most of it compiling SQLite). The newest three stay.
npm_cache="${XDG_CACHE_HOME:-$HOME/.cache}/sendense-run/npm-ci/$({ cat package-lock.json; node --version; uname -m; } | sha256sum | cut -c1-16)"
start_npm_ci() {
  if [ -z "$npm_pid" ] && { [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
    if [ -f "$npm_cache/node_modules/.package-lock.json" ]; then
      echo "setup: node_modules from $npm_cache (npm ci made it for this package-lock.json)"
      rm -rf node_modules
      cp -a "$npm_cache/node_modules" node_modules
      touch node_modules/.package-lock.json
      return
    fi
    echo "setup: npm ci (compiles SQLite: 1-2 minutes, more on a loaded machine; while the rest goes on)"
    npm_begun=$SECONDS
    npm ci --no-audit --no-fund --loglevel=error >"$npm_log" 2>&1 &
    npm_pid=$!
  fi
}
# After a good npm ci: its node_modules copied into the cache, whole or not at all.
keep_npm_ci() {
  local temp
  mkdir -p "$(dirname "$npm_cache")"
  temp="$(mktemp -d "$npm_cache.tmp-XXXXXX")"
  if cp -a node_modules "$temp/" && mv -T "$temp" "$npm_cache" 2>/dev/null; then
    ls -dt "$(dirname "$npm_cache")"/*/ | grep -v '\.tmp-' | tail -n +4 | xargs -r rm -rf
  else
    rm -rf "$temp"
  fi
}

need=()
# The native addons' build tools: where they are missing, npm ci waits for apt to install them.
toolchain=()
command -v python3 >/dev/null 2>&1 || toolchain+=(python3)
command -v make >/dev/null 2>&1 || toolchain+=(make)
command -v g++ >/dev/null 2>&1 || toolchain+=(g++)
if [ ${#toolchain[@]} -eq 0 ]; then start_npm_ci; else need+=("${toolchain[@]}"); fi
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
# Reading a copy straight from its bucket (fetch --lazy): qemu-storage-daemon, whose FUSE exports
# present the bucket's files as files.
command -v qemu-storage-daemon >/dev/null 2>&1 || need+=(qemu-system-common)
command -v nbdcopy >/dev/null 2>&1 || need+=(libnbd-bin)
command -v nbdkit >/dev/null 2>&1 || need+=(nbdkit)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# Instant recovery lets libvirt's QEMU user into the served socket's private directory by ACL.
command -v setfacl >/dev/null 2>&1 || need+=(acl)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
# The hub API's own TLS certificate is made once by openssl (docs/api.md#tls).
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# File-level restore (files, mount, target type files): libguestfs (guestfish, guestmount and the
# Perl bindings its agent uses), a kernel for its appliance, FUSE, and the archive writers.
command -v guestmount >/dev/null 2>&1 || need+=(libguestfs-tools)
perl -MSys::Guestfs -e1 >/dev/null 2>&1 || need+=(libguestfs-perl)
dpkg -s libguestfs-xfs >/dev/null 2>&1 || need+=(libguestfs-xfs)
if ! ls /boot/vmlinuz-* >/dev/null 2>&1; then
  if grep -q '^ID=ubuntu' /etc/os-release 2>/dev/null; then need+=(linux-image-generic); else need+=(linux-image-amd64); fi
fi
command -v fusermount >/dev/null 2>&1 || need+=(fuse3)
command -v zip >/dev/null 2>&1 || need+=(zip)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
# The API streams a folder as tar.zst through the zstd program.
command -v zstd >/dev/null 2>&1 || need+=(zstd)
# The file-level tests make real disks: partition tables, filesystems, LVM.
command -v sgdisk >/dev/null 2>&1 || need+=(gdisk)
command -v sfdisk >/dev/null 2>&1 || need+=(fdisk)
command -v mkfs.vfat >/dev/null 2>&1 || need+=(dosfstools)
command -v mcopy >/dev/null 2>&1 || need+=(mtools)
# ntfs-3g's tools (ntfsls, ntfscat, ntfsinfo) also read NTFS for the files fast path.
command -v ntfsls >/dev/null 2>&1 || need+=(ntfs-3g)
command -v mkfs.xfs >/dev/null 2>&1 || need+=(xfsprogs)
command -v mkfs.btrfs >/dev/null 2>&1 || need+=(btrfs-progs)
command -v pvcreate >/dev/null 2>&1 || need+=(lvm2)
command -v mkfs.ext4 >/dev/null 2>&1 || need+=(e2fsprogs)
# The store and many-hub tests start a real PostgreSQL server (initdb in a temp dir); Debian keeps
# its binaries in /usr/lib/postgresql/VERSION/bin. The package's own cluster is not used.
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
# libvirt sources: the tests run a real libvirt (started by the tests when none answers: no
# systemd here) with a real guest, the host's kernel and a busybox initramfs they build, with
# qemu-guest-agent inside for quiesced backups.
command -v virsh >/dev/null 2>&1 || need+=(libvirt-clients)
[ -x /usr/sbin/libvirtd ] || need+=(libvirt-daemon-system)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
# Static: the guest's initramfs has no libc. (A pipe with grep -q fails under pipefail: dpkg asks.)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
[ -x /usr/sbin/qemu-ga ] || need+=(qemu-guest-agent)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
# The monitoring tests lint a metrics file a run wrote with promtool (Debian's prometheus package).
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# The English-messages test makes a German locale of its own (localedef, from the locales package's
# sources) and reads coreutils' German messages (coreutils ships them).
[ -f /usr/share/i18n/locales/de_DE ] || need+=(locales)
# A backup test reads the order of a run's writes and syncs from strace.
command -v strace >/dev/null 2>&1 || need+=(strace)
# The s3 copy tests run a real S3 server: Ceph's radosgw on a one-node cluster they start
# (test/support/ceph/up.sh: a mon, an OSD on a sparse file; ceph-common has the ceph CLI,
# monmaptool, ceph-authtool and radosgw-admin).
command -v ceph-mon >/dev/null 2>&1 || need+=(ceph-mon)
command -v ceph-osd >/dev/null 2>&1 || need+=(ceph-osd)
command -v radosgw >/dev/null 2>&1 || need+=(radosgw)
command -v radosgw-admin >/dev/null 2>&1 || need+=(ceph-common)
# The terminal tests drive the CLI in a real pseudo-terminal inside tmux.
command -v tmux >/dev/null 2>&1 || need+=(tmux)
# The web console's tests drive Debian's Chromium (playwright-core downloads no browser), with a
# font so text has its real width (no-install-recommends leaves fonts-liberation out).
[ -x /usr/bin/chromium ] || need+=(chromium)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need+=(fonts-dejavu-core)
# The VMware tests build govmomi's vSphere simulator (vcsim) from Debian's source with Debian's Go,
# offline, once into ~/.cache/sendense-run (test/support/vcsim.ts): VMware itself is simulated there.
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -d /usr/share/gocode/src/github.com/vmware/govmomi ] || need+=(golang-github-vmware-govmomi-dev)
# scripts/build-deb.sh and its test: dpkg-shlibdeps for the addons' libraries, lintian to check it.
command -v dpkg-shlibdeps >/dev/null 2>&1 || need+=(dpkg-dev)
command -v lintian >/dev/null 2>&1 || need+=(lintian)
# scripts/demo.sh asks for what the demo uses only (--demo): the core, sshd for a node, libguestfs
# for file-level restore; none of the test-only servers and tools (ceph, prometheus, Chromium, Go…).
# --demo-libvirt adds libvirt, QEMU's emulator and what the demo guest is built from.
if [ "${1:-}" = --demo ] || [ "${1:-}" = --demo-libvirt ] && [ ${#need[@]} -gt 0 ]; then
  demo=()
  for package in "${need[@]}"; do
    case "$package" in
      python3 | make | g++ | qemu-utils | qemu-system-common | libnbd-bin | nbdkit | openssh-server | openssh-client | iproute2 | acl | openssl | \
        libguestfs-tools | libguestfs-perl | libguestfs-xfs | linux-image-* | fuse3 | zip | unzip | ntfs-3g | e2fsprogs) demo+=("$package") ;;
      libvirt-clients | libvirt-daemon-system | qemu-system-x86 | busybox-static | qemu-guest-agent | cpio)
        [ "$1" = --demo ] || demo+=("$package")
        ;;
    esac
  done
  need=("${demo[@]+"${demo[@]}"}")
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${#need[@]} packages: ${need[*]}"
  step_begun=$SECONDS
  # Another installer at work (unattended upgrades on a fresh machine): wait for it, saying so.
  # apt's own timeout covers one that starts between this check and apt-get taking the lock.
  source scripts/package-lock-wait.sh
  wait_for_package_locks || exit 1
  lock_timeout=(-o "DPkg::Lock::Timeout=${SENDENSE_PACKAGE_LOCK_WAIT:-1800}")
  $sudo apt-get "${lock_timeout[@]}" update -qq
  # Packages with a daemon (prometheus, postgresql, libvirt) would start it on install, some on
  # every address (prometheus on :9090): a policy-rc.d that says no keeps them stopped; the tests
  # start what they need themselves, on 127.0.0.1. One already there is left as it is.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy"
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get "${lock_timeout[@]}" install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ -z "$policy" ] || $sudo rm -f "$policy"
  policy=""
  took "installing the packages"
fi

start_npm_ci
if [ -n "$npm_pid" ]; then
  kill -0 "$npm_pid" 2>/dev/null && echo "setup: waiting for npm ci to finish ($((SECONDS - npm_begun)) s so far)"
  status=0
  wait "$npm_pid" || status=$?
  npm_pid=""
  cat "$npm_log"
  [ "$status" = 0 ] || { echo "setup: npm ci failed (exit $status)" >&2; exit 1; }
  step_begun=$npm_begun
  took "npm ci"
  keep_npm_ci
fi
echo "setup: npm run build (TypeScript, the bundles, the console: 1-3 minutes)"
step_begun=$SECONDS
npm run --silent build
took "npm run build"
