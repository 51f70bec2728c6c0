#!/usr/bin/env bash
# ceph-up.sh DIR PORT
# Start a throw-away one-node Ceph cluster (1 mon, 1 BlueStore OSD on a sparse
# file, radosgw/beast on 127.0.0.1:PORT) with everything under DIR.
# No /etc/ceph, no /var/lib/ceph, no systemd. Daemons run in the foreground of background jobs, with pid
# files in DIR/run; their PIDs are appended to DIR/pids (one per line) as they start.
# Stop with ceph-down.sh DIR.
# Env knobs: CEPH_MGR=1 also starts a ceph-mgr (not needed for S3 I/O);
#            CEPH_OBJECTSTORE=memstore uses memstore instead of BlueStore;
#            CEPH_UP_TIMEOUT (s, default 120: the longest wait without progress); CEPH_BLOCK_GIB: the OSD's sparse file (default 10).
set -euo pipefail
T0=$(date +%s.%N)
elapsed() { echo "$(date +%s.%N) $T0" | awk '{printf "%.2f", $1-$2}'; }

DIR=${1:?usage: ceph-up.sh DIR PORT}
PORT=${2:?usage: ceph-up.sh DIR PORT}
OBJECTSTORE=${CEPH_OBJECTSTORE:-bluestore}
TIMEOUT=${CEPH_UP_TIMEOUT:-120}
PY=/usr/bin/python3           # the ceph CLI's own interpreter; avoid pyenv shims

if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
  echo "ceph-up: $DIR exists and is not empty" >&2; exit 2
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
mkdir -p "$DIR"/{mon,osd,run,log}
: > "$DIR/pids"

fail() {
  echo "ceph-up: $*" >&2
  tail -n 30 "$DIR"/log/*.log >&2 2>/dev/null || true
  # stop what we started, keep DIR for the logs
  for p in ${MKFS_PID:-} $(cat "$DIR/pids" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  exit 1
}
trap 'fail "command failed (line $LINENO)"' ERR

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A daemon in the foreground, in the background: its PID is in DIR/pids from the moment it
# exists (a daemonized one writes its pid file only later), its output in DIR/log.
start() {   # name argv...
  local name=$1; shift
  "$@" -f >"$DIR/log/$name.out" 2>&1 &
  echo $! >> "$DIR/pids"
}

# PORT must be free, or the readiness probe below could talk to someone else
# (SO_REUSEADDR like radosgw itself, so TIME_WAIT leftovers of a previous run don't count)
"$PY" -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen()' "$PORT" 2>/dev/null \
  || fail "port 127.0.0.1:$PORT is already in use"
MONPORT=$(free_port)
FSID=$(cat /proc/sys/kernel/random/uuid)
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
CONF="$DIR/ceph.conf"

cat > "$CONF" <<EOF
[global]
fsid = $FSID
mon initial members = a
mon host = [v2:127.0.0.1:$MONPORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $DIR/keyring
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
pid file = $DIR/run/\$name.pid
log to stderr = false
err to stderr = false
log to syslog = false
crash dir = $DIR/crash
exporter sock dir = $DIR/run
mon data = $DIR/mon
# faster paxos: each rgw pool create/app-enable otherwise costs ~1 s
paxos propose interval = 0.05
paxos min wait = 0.01
mon cluster log file = $DIR/log/cluster.log
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd crush update on start = true
osd data = $DIR/osd
osd objectstore = $OBJECTSTORE
bluestore block path = $DIR/osd-block
bluestore block create = true
bluestore block size = $(( ${CEPH_BLOCK_GIB:-10} * 1024 * 1024 * 1024 ))
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mount = false
# aio thread poll timeout; default 250 ms makes every bdev close (mkfs/mount) ~0.25 s
bdev aio poll ms = 20
bluestore cache autotune = false
bluestore cache size = 134217728
osd memory target = 939524096
osd memory cache min = 134217728
memstore device bytes = 4294967296
osd op num shards = 1
osd op num threads per shard = 2

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $DIR/rgw
rgw thread pool size = 64
rgw enable usage log = false
EOF

# keys: one keyring for everything (throw-away test cluster)
ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$DIR/keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
ceph-authtool "$DIR/keyring" --gen-key -n osd.0 \
  --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *' >/dev/null
ceph-authtool "$DIR/keyring" --gen-key -n client.rgw.a \
  --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
ceph-authtool "$DIR/keyring" --gen-key -n mgr.x \
  --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *' >/dev/null
chmod 600 "$DIR/keyring"

# OSD mkfs needs no mon (--no-mon-config): it runs in the background meanwhile
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" --no-mon-config >/dev/null 2>"$DIR/log/osd-mkfs.err" &
MKFS_PID=$!

# mon
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MONPORT]" "$DIR/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring"
start mon.a ceph-mon -c "$CONF" -i a

# osd: registered in the osdmap (id 0, our uuid), its mkfs waited for, started
timeout "$TIMEOUT" ceph -c "$CONF" --connect-timeout 30 osd new "$OSD_UUID" 0 >/dev/null
wait "$MKFS_PID" || fail "ceph-osd --mkfs failed: $(cat "$DIR/log/osd-mkfs.err")"
start osd.0 ceph-osd -c "$CONF" -i 0

if [ "${CEPH_MGR:-0}" = 1 ]; then
  mkdir -p "$DIR/mgr"
  start mgr.x ceph-mgr -c "$CONF" -i x --mgr-data "$DIR/mgr"
fi

# rgw (creates its pools itself; blocks until the OSD serves I/O)
mkdir -p "$DIR/rgw"
start client.rgw.a radosgw -c "$CONF" -n client.rgw.a
RGW_PID=$(tail -n 1 "$DIR/pids")

# wait for the S3 endpoint: bounded by progress, not by a total. radosgw makes its pools first,
# each a round trip through the mon and the OSD, which a loaded machine slows down; while rgw, the
# mon or the OSD write to their logs, that is progress, and the wait goes on. TIMEOUT seconds with
# no log growing (or 10 x TIMEOUT in all) and it gives up, saying what it waited for.
log_bytes() { cat "$DIR"/log/*.log 2>/dev/null | wc -c; }
last_bytes=$(log_bytes)
moved=$(date +%s)
ceiling=$(( moved + 10 * TIMEOUT ))
until "$PY" - "$PORT" <<'PY' 2>/dev/null
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen("http://127.0.0.1:%s/" % sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass           # any HTTP answer (e.g. 403) means rgw serves requests
PY
do
  now=$(date +%s)
  bytes=$(log_bytes)
  if [ "$bytes" != "$last_bytes" ]; then last_bytes=$bytes; moved=$now; fi
  kill -0 "$RGW_PID" 2>/dev/null || fail "radosgw exited before answering on 127.0.0.1:$PORT"
  [ $(( now - moved )) -lt "$TIMEOUT" ] ||
    fail "radosgw did not answer on 127.0.0.1:$PORT, and no daemon of the cluster wrote to its log for ${TIMEOUT}s ($(elapsed)s since the start)"
  [ "$now" -lt "$ceiling" ] ||
    fail "radosgw did not answer on 127.0.0.1:$PORT within $(( 10 * TIMEOUT ))s, though the cluster's logs grew"
  sleep 0.2
done

T_HTTP=$(elapsed)

# S3 user: radosgw-admin makes its keys; they land only in a 0600 file, never on a command line
umask 077
timeout "$TIMEOUT" radosgw-admin -c "$CONF" -n client.admin user create --uid=test --display-name=test > "$DIR/s3-user.json"
chmod 600 "$DIR/s3-user.json"
echo "rgw_http_s=$T_HTTP ready_s=$(elapsed)" > "$DIR/timings"
echo "ceph-up: rgw answered after ${T_HTTP}s, ready after $(elapsed)s"
echo "ceph-up: S3 on http://127.0.0.1:$PORT, the user and its keys in $DIR/s3-user.json, pids in $DIR/pids"
