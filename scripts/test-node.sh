#!/usr/bin/env bash
# Usage: scripts/test-node.sh MAJOR [vitest args...]
# Runs the test suite on Node.js MAJOR. With the node on PATH of that major it is scripts/test.sh.
# Otherwise the runtime comes from scripts/node-runtime.sh, and the suite runs in a copy of this
# checkout whose node_modules has its native addons (better-sqlite3, ssh2's crypto) rebuilt for
# that runtime: they are compiled against one Node.js ABI, so node_modules built for one major
# does not load on another. The copy's node_modules is kept for the next run while this
# checkout's node_modules and the runtime stay the same; the sources are copied afresh every time.
set -euo pipefail
cd "$(dirname "$0")/.."

major="${1:-}"
if ! [[ "$major" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/test-node.sh MAJOR [vitest args...]" >&2
  exit 2
fi
shift

if [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
  exec scripts/test.sh "$@"
fi

scripts/setup.sh
bin="$(scripts/node-runtime.sh "$major")"
export PATH="$bin:$PATH"
version="$(node --version)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/sendense-run"
copy="$cache/checkout-node$major-$(pwd -P | cksum | cut -d' ' -f1)"
stamp="$(sha256sum node_modules/.package-lock.json | cut -d' ' -f1) $version"

if [ "$(cat "$copy/node_modules/.sendense-run-stamp" 2>/dev/null || true)" != "$stamp" ]; then
  echo "test-node: rebuilding native addons for Node.js $version in $copy (a few minutes)"
  rm -rf "$copy"
  mkdir -p "$copy"
  cp -a package.json package-lock.json node_modules "$copy/"
  # Headers from the runtime's own package (no download); build from source, as no prebuilt
  # binaries can be fetched here.
  if ! (cd "$copy" && npm_config_nodedir="$(dirname "$bin")" npm_config_build_from_source=true JOBS=max \
        npm rebuild --foreground-scripts --no-audit --no-fund >"$copy/rebuild.log" 2>&1); then
    tail -40 "$copy/rebuild.log" >&2
    echo "test-node: npm rebuild for Node.js $version failed (log: $copy/rebuild.log)" >&2
    exit 1
  fi
  echo "$stamp" >"$copy/node_modules/.sendense-run-stamp"
fi

find "$copy" -mindepth 1 -maxdepth 1 ! -name node_modules -exec rm -rf {} +
tar --exclude=./node_modules --exclude=./.git --exclude=./demo --exclude=./bench/out --exclude=./.tmp \
  --exclude='./*.db' -cf - . | tar -C "$copy" -xf -
cd "$copy"
echo "test-node: Node.js $version, in $copy"
exec node node_modules/vitest/vitest.mjs run "$@"
