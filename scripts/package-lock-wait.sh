# Sourced by scripts/setup.sh: waits while another installer (unattended upgrades on a fresh
# Debian/Ubuntu machine, another apt-get) holds the dpkg/apt locks, saying which process holds
# which lock, instead of apt-get failing at once with "Could not get lock". Bounded: it gives up
# after SENDENSE_PACKAGE_LOCK_WAIT seconds (default 1800) with a message naming the holder.

# The locks apt-get update and apt-get install take (dpkg and apt lock them with fcntl).
package_locks=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock)

# "PID 123 (command)" of the process holding `file`'s lock, from /proc/locks; nothing when none does.
package_lock_holder() {
  local file="$1" dev inode id pid
  [ -e "$file" ] || return 0
  dev="$(stat -L -c %d "$file")" inode="$(stat -L -c %i "$file")"
  # /proc/locks names a file as major:minor:inode, major and minor in hex.
  id="$(printf '%02x:%02x:%s' $(((dev >> 8) & 0xfff)) $(((dev & 0xff) | ((dev >> 12) & 0xfff00))) "$inode")"
  pid="$(awk -v id="$id" '$2 != "->" && $6 == id { print $5; exit }' /proc/locks 2>/dev/null)"
  [ -n "$pid" ] || return 0
  # An open file description lock (pid -1) has no single owner to name.
  if [ "$pid" -gt 0 ]; then echo "PID $pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo 'gone'))"; else echo "a process /proc/locks does not name"; fi
}

# Returns when no package lock is held; exit status 1 (and a line saying what held it) after
# the bound. Says once what it waits for, and again when the holder changes.
wait_for_package_locks() {
  local limit="${SENDENSE_PACKAGE_LOCK_WAIT:-1800}" waited=0 said="" lock holder held
  while :; do
    held=""
    for lock in "${package_locks[@]}"; do
      holder="$(package_lock_holder "$lock")"
      if [ -n "$holder" ]; then
        held="$lock, held by $holder"
        break
      fi
    done
    [ -n "$held" ] || return 0
    if [ "$waited" -ge "$limit" ]; then
      echo "setup: gave up after ${waited} s waiting for the package lock $held; let it finish (or stop it) and run setup again" >&2
      return 1
    fi
    if [ "$held" != "$said" ]; then
      echo "setup: waiting up to ${limit} s for the package lock $held: another installer (unattended upgrades?) is at work" >&2
      said="$held"
    fi
    sleep 2
    waited=$((waited + 2))
  done
}
