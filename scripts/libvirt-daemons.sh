# Sourced by scripts/demo-libvirt.sh: libvirt's daemons answering on qemu:///system. One already
# answering (systemd's socket activation, or started by hand) is used as it is and left running.
# With systemd: `systemctl start`, and the services stay as systemd keeps them. Without systemd (a
# container): `virtlogd -d` and `libvirtd -d`, their PIDs remembered, and libvirt_daemons_stop
# stops exactly those PIDs afterwards, unless a domain still runs on them (someone else's).

libvirt_started_pids=()

libvirt_answers() { virsh -q -c qemu:///system version >/dev/null 2>&1; }

# The PID a daemon wrote to its pid file (no trailing newline) while that very daemon runs.
libvirt_daemon_pid() {
  local name="$1" pid
  pid="$(cat "/run/$name.pid" 2>/dev/null || true)"
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && echo "$pid"
}

libvirt_daemons_start() {
  local name pid i
  # libvirtd asks virtlogd for each domain's log as it starts: without it no domain starts.
  if libvirt_answers && [ -n "$(libvirt_daemon_pid virtlogd)" ]; then
    echo "libvirt answers on qemu:///system already: used as it is"
    return 0
  fi
  if [ -d /run/systemd/system ]; then
    echo "starting virtlogd and libvirtd (systemctl start; they stay running, as systemd keeps them)"
    systemctl start virtlogd.service libvirtd.service
  else
    for name in virtlogd libvirtd; do
      [ -z "$(libvirt_daemon_pid "$name")" ] || continue
      [ "$name" != libvirtd ] || ! libvirt_answers || continue
      pid=""
      "/usr/sbin/$name" -d
      for i in $(seq 100); do
        pid="$(libvirt_daemon_pid "$name")" && break
        sleep 0.1
      done
      [ -n "$pid" ] || { echo "demo: $name did not start (no PID in /run/$name.pid)" >&2; return 1; }
      libvirt_started_pids+=("$pid")
      echo "started $name -d (PID $pid; no systemd here): stopped again when the demo ends"
    done
  fi
  for i in $(seq 100); do
    libvirt_answers && return 0
    sleep 0.1
  done
  echo "demo: libvirtd does not answer on qemu:///system: $(virsh -q -c qemu:///system version 2>&1 | tail -1)" >&2
  return 1
}

# The daemons libvirt_daemons_start started, stopped by PID (libvirtd first), unless a domain runs.
libvirt_daemons_stop() {
  local index pid i
  [ ${#libvirt_started_pids[@]} -gt 0 ] || return 0
  if libvirt_answers && [ -n "$(virsh -q -c qemu:///system list --name 2>/dev/null | tr -d '[:space:]')" ]; then
    echo "left libvirtd and virtlogd running (PIDs ${libvirt_started_pids[*]}): other domains run on them"
    libvirt_started_pids=()
    return 0
  fi
  for ((index = ${#libvirt_started_pids[@]} - 1; index >= 0; index--)); do
    pid="${libvirt_started_pids[$index]}"
    kill "$pid" 2>/dev/null || continue
    for i in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  done
  echo "stopped the libvirt daemons the demo started (PIDs ${libvirt_started_pids[*]})"
  libvirt_started_pids=()
}
