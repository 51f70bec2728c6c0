#!/usr/bin/env bash
# Usage: scripts/test-node.sh VERSION [--prepare | --queue DIR LINE vitest args... | vitest args...]
#        (VERSION: a major such as 22 or 24, or a line such as 24.18)
# Runs the test suite on Node.js VERSION. With the node on PATH of that major it is scripts/test.sh.
# Otherwise the runtime comes from scripts/node-runtime.sh, and the suite runs in a temporary
# copy of this checkout whose node_modules has its native addons (better-sqlite3, ssh2's crypto)
# rebuilt for that runtime: they are compiled against one Node.js ABI, so node_modules built for
# one major does not load on another. The rebuilt node_modules is kept beside the runtime and
# reused by every checkout with the same node_modules, so only the first run pays for the build.
# The copy (sources, node_modules and the node binary, hard-linked where possible) lives in
# ${TMPDIR:-/tmp}, readable by every user: tests run the CLI as nobody, who cannot enter ~root.
# --prepare only makes the runtime and its node_modules ready (.ci/run, while it checks the tree).
# --queue DIR LINE runs the chunks of the queue in DIR (scripts/test-times.js queue) that line LINE
# takes, one vitest run each, until none is left; each run's file times and test counts go to
# DIR/report-LINE-N.json (scripts/file-times-reporter.js). It fails if any run failed.
# SENDENSE_SETUP_DONE=1 skips scripts/setup.sh (done once already).
set -euo pipefail
cd "$(dirname "$0")/.."

major="${1:-}"
if ! [[ "$major" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
  echo "usage: scripts/test-node.sh VERSION [vitest args...]" >&2
  exit 2
fi
shift

# The queue's chunks, one vitest run each (see --queue above), with this directory's vitest.
run_queue() {
  local dir="$1" line="$2" files n=0 status=0
  shift 2
  while true; do
    files="$(node "$scripts/test-times.js" next "$dir" "$line")" || { echo "test-node: no chunk could be taken from $dir"; return 1; }
    [ -n "$files" ] || break
    n=$((n + 1))
    # shellcheck disable=SC2086 # one word per test file
    SENDENSE_FILE_TIMES="$dir/report-$line-$n.json" node node_modules/vitest/vitest.mjs run "$@" --reporter=default \
      --reporter="$scripts/file-times-reporter.js" $files || { status=1; echo "test-node: chunk $n of line $line failed: $files"; }
  done
  return "$status"
}
scripts="$(pwd)/scripts"

if [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
  [ "${1:-}" = --prepare ] && exit 0
  if [ "${1:-}" = --queue ]; then
    [ "${SENDENSE_SETUP_DONE:-}" = 1 ] || scripts/setup.sh
    shift
    run_queue "$@"
    exit
  fi
  exec scripts/test.sh "$@"
fi

[ "${SENDENSE_SETUP_DONE:-}" = 1 ] || scripts/setup.sh
bin="$(scripts/node-runtime.sh "$major")"
export PATH="$bin:$PATH"
version="$(node --version)"
runtime="$(dirname "$(dirname "$(dirname "$bin")")")"
tree="$runtime/modules-$version-$(sha256sum node_modules/.package-lock.json | cut -c1-16)"

if [ ! -d "$tree" ]; then
  # One build at a time per runtime; a run that waited here finds it done.
  exec 9>"$runtime/rebuild.lock"
  flock 9
  if [ ! -d "$tree" ]; then
    echo "test-node: rebuilding native addons for Node.js $version into $tree (a few minutes)"
    build="$(mktemp -d "$runtime/rebuild-XXXXXX")"
    chmod 755 "$build"
    cp -a package.json package-lock.json node_modules "$build/"
    # Headers from the runtime's own package (no download); built from source, as no prebuilt
    # binaries can be fetched here. better-sqlite3 12 is only loaded where Node-API 10 is missing
    # (src/store/sqlite-driver.ts; 13 ships Node-API binaries that need no build), so it is only
    # rebuilt for such a runtime: compiling SQLite is most of the time this takes.
    addons=(ssh2 cpu-features)
    [ "$(node -p 'Number(process.versions.napi) >= 10')" = true ] || addons+=(better-sqlite3)
    if ! (cd "$build" && npm_config_nodedir="$(dirname "$bin")" npm_config_build_from_source=true JOBS=max \
          npm rebuild "${addons[@]}" --foreground-scripts --no-audit --no-fund >"$build/rebuild.log" 2>&1); then
      tail -40 "$build/rebuild.log" >&2
      echo "test-node: npm rebuild for Node.js $version failed (log: $build/rebuild.log)" >&2
      exit 1
    fi
    mv -T "$build" "$tree"
    # The three newest builds stay (branches with other dependencies); older ones go.
    ls -dt "$runtime"/modules-*/ | tail -n +4 | xargs -r rm -rf
  fi
  exec 9>&-
fi
[ "${1:-}" = --prepare ] && exit 0

copy="$(mktemp -d "${TMPDIR:-/tmp}/sendense-run-node$major-XXXXXX")"
trap 'rm -rf "$copy"' EXIT
chmod 755 "$copy"
tar --exclude=./node_modules --exclude=./.git --exclude=./demo --exclude=./bench/out --exclude=./.tmp \
  --exclude='./*.db' -cf - . | tar -C "$copy" -xf -
cp -al "$tree/node_modules" "$copy/node_modules" 2>/dev/null || { rm -rf "$copy/node_modules"; cp -a "$tree/node_modules" "$copy/node_modules"; }
mkdir "$copy/.node-bin"
ln "$bin/node" "$copy/.node-bin/node" 2>/dev/null || cp "$bin/node" "$copy/.node-bin/node"
# tar gave the copy the mode of this checkout's own directory (0700 in a `mktemp -d` clone):
# every user must reach the copy's node and package (tests run the CLI as nobody).
chmod 755 "$copy" "$copy/.node-bin"
export PATH="$copy/.node-bin:$PATH"
cd "$copy"
echo "test-node: Node.js $version, in $copy"
if [ "${1:-}" = --queue ]; then
  shift
  run_queue "$@"
  exit
fi
node node_modules/vitest/vitest.mjs run "$@"
