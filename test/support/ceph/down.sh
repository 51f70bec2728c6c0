#!/usr/bin/env bash
# ceph-down.sh DIR — stop exactly the daemons that ceph-up.sh DIR started
# (PIDs from DIR/pids and DIR/run/*.pid, each checked to still be a process
# whose command line names DIR/ceph.conf), then remove DIR.
# Order matters: radosgw first, then mgr/osd, then mon (a radosgw whose OSD
# or mon is already gone hangs in shutdown for seconds). Each step: TERM,
# wait up to 10 s, then KILL.
set -uo pipefail
DIR=${1:?usage: ceph-down.sh DIR}
[ -d "$DIR" ] || exit 0
DIR=$(cd "$DIR" && pwd)

ours() {   # pid -> true if alive, not a zombie, and started with our conf
  local p=$1
  [ -r "/proc/$p/cmdline" ] || return 1
  grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null && return 1
  tr '\0' ' ' < "/proc/$p/cmdline" | grep -qF -- "$DIR/ceph.conf"
}

stop() {   # pids...
  local p live=() i
  for p in "$@"; do ours "$p" && live+=("$p"); done
  [ ${#live[@]} -eq 0 ] && return 0
  kill -TERM "${live[@]}" 2>/dev/null
  for i in $(seq 1 200); do          # 200 x 0.05 s = 10 s
    local still=()
    for p in "${live[@]}"; do ours "$p" && still+=("$p"); done
    [ ${#still[@]} -eq 0 ] && return 0
    sleep 0.05
  done
  for p in "${live[@]}"; do ours "$p" && kill -KILL "$p" 2>/dev/null; done
  for p in "${live[@]}"; do while ours "$p"; do sleep 0.05; done; done
}

pidof_file() { [ -s "$DIR/run/$1.pid" ] && cat "$DIR/run/$1.pid"; }

stop $(pidof_file client.rgw.a)
stop $(pidof_file osd.0) $(pidof_file mgr.x)
stop $(pidof_file mon.a)
# anything else recorded (e.g. a pid file that was lost)
stop $(cat "$DIR/pids" 2>/dev/null)
rm -rf -- "$DIR"
