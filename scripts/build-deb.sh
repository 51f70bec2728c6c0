#!/usr/bin/env bash
# Builds the Debian package sendense-run_VERSION_ARCH.deb from this checkout with dpkg-deb, without
# network: the files of `npm pack` under /usr/lib/sendense-run, the runtime packages copied from
# node_modules (npm ci fetched and compiled them), /usr/bin/sendense-run, the scheduler's systemd
# unit, /etc/sendense (example hub config and plans, conffiles), the man page from
# docs/commands.md, and the maintainer scripts of packaging/deb/ (docs/operations.md#the-debian-package).
#
#   scripts/build-deb.sh [--no-build] [OUT_DIR]     (default OUT_DIR: the current directory)
#
# Architecture-specific (amd64 here), not `all`: better-sqlite3 and ssh2's crypto are compiled
# addons, built for this machine's architecture (and better-sqlite3 12 for this Node.js's ABI).
set -euo pipefail

build=1
if [ "${1:-}" = --no-build ]; then build=0; shift; fi
out=$(realpath -m "${1:-.}")
cd "$(dirname "$0")/.."

version=$(node -p 'require("./package.json").version')
arch=$(dpkg --print-architecture)
case "$arch" in
  amd64) addon_arch=x64 ;;
  arm64) addon_arch=arm64 ;;
  *) echo "build-deb: no better-sqlite3 13 binary for $arch" >&2; exit 1 ;;
esac
node_major=$(node -p 'process.versions.node.split(".")[0]')
# The SQLite driver (src/store/sqlite-driver.ts): better-sqlite3 13 (Node-API 10: Node.js 22.14 and
# later) runs on any such Node.js; 12 runs only on the Node.js ABI it was compiled for, this one's.
if [ "$node_major" = 20 ]; then nodejs='nodejs (>= 20), nodejs (<< 21) | nodejs (>= 22.14)'; else nodejs='nodejs (>= 22.14)'; fi
maintainer=${DEB_MAINTAINER:-$(git log -1 --format='%an <%ae>')}
# Reproducible: every timestamp is the last commit's.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}

[ "$build" = 0 ] || npm run --silent build
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
lib="$root/usr/lib/sendense-run"
doc="$root/usr/share/doc/sendense-run"
mkdir -p "$lib" "$doc" "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/share/man/man1" "$root/etc/sendense/plans" "$root/etc/sendense/examples" "$root/DEBIAN"

# The npm package's files, exactly (package.json "files"), then its runtime dependencies.
npm pack --ignore-scripts --silent --pack-destination "$work" >/dev/null
tar -xzf "$work/sendense-run-$version.tgz" -C "$lib" --strip-components=1 --no-same-owner
npm ls --omit=dev --all --parseable | tail -n +2 | while read -r dir; do
  rel=${dir#"$PWD/"}
  mkdir -p "$lib/$rel"
  tar -C "$dir" --exclude=./node_modules -cf - . | tar -C "$lib/$rel" -xf - --no-same-owner
done
# What the addons were compiled from and with is not needed to run them: keep the .node files.
modules="$lib/node_modules"
for addon in better-sqlite3 better-sqlite3-13 ssh2/lib/protocol/crypto cpu-features; do
  [ -d "$modules/$addon" ] || continue
  rm -rf "$modules/$addon/deps" "$modules/$addon/src" "$modules/$addon/binding.gyp"
  if [ -d "$modules/$addon/build" ]; then
    find "$modules/$addon/build" -type f ! -regex '.*/Release/[^/]*\.node' -delete
    find "$modules/$addon/build" -name test_extension.node -delete
    find "$modules/$addon/build" -depth -type d -empty -delete
  fi
done
find "$modules/better-sqlite3-13/prebuilds" -type f ! -name "linux-$addon_arch.node" -delete
find "$modules" -name '*.node' -exec strip --strip-unneeded --remove-section=.comment --remove-section=.note {} +
# Only the build tools of the addons (node-gyp's headers, prebuild-install) need these.
rm -rf "$modules/nan" "$modules/node-addon-api"
# Their packages' own dotfiles (.eslintrc, .npmignore, .package-lock.json) are of no use installed.
find "$modules" -name '.*' -type f -delete
find "$lib" -type f -exec chmod 0644 {} + && find "$lib" -type d -exec chmod 0755 {} +
# Scripts (a #! line) stay executable: the bin, the guestfs agent, the packages' own bins.
find "$lib" -type f \( -name '*.js' -o -name '*.pl' \) -exec sh -c 'for f; do [ "$(head -c 2 "$f")" != "#!" ] || chmod 0755 "$f"; done' sh {} +

ln -s ../lib/sendense-run/bin/sendense-run.js "$root/usr/bin/sendense-run"
install -m 0644 examples/sendense-run-schedule.service examples/sendense-run-api.service "$root/lib/systemd/system/"
# The guides stay in the package (the CLI's help points at docs/...); /usr/share/doc points at them.
ln -s ../../../lib/sendense-run/docs "$doc/docs"
ln -s ../../../lib/sendense-run/README.md "$doc/README.md"
gzip -9nc CHANGELOG.md >"$doc/changelog.gz"
install -m 0644 packaging/deb/copyright "$doc/copyright"
{
  printf 'sendense-run (%s) unstable; urgency=medium\n\n' "$version"
  printf '  * Upstream release %s: see /usr/share/doc/sendense-run/changelog.gz.\n\n' "$version"
  printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.Debian.gz"
node scripts/gen-man.js "$work/man"
gzip -9n <"$work/man/sendense-run.1" >"$root/usr/share/man/man1/sendense-run.1.gz"

# /etc/sendense: examples only (hub.yaml.example, examples/), so a fresh install has no hub config
# and the scheduler no plan (it runs /etc/sendense/plans).
install -m 0644 packaging/deb/hub.yaml "$root/etc/sendense/hub.yaml.example"
for plan in examples/*.yaml; do
  sed 's|\$schema=\.\./schemas/plan\.schema\.json|$schema=/usr/lib/sendense-run/schemas/plan.schema.json|' "$plan" >"$root/etc/sendense/examples/$(basename "$plan")"
done
chmod 0644 "$root"/etc/sendense/examples/*
(cd "$root" && find etc -type f | sort | sed 's|^|/|') >"$root/DEBIAN/conffiles"

install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$root/DEBIAN/"
# The addons' shared libraries (libc6, libstdc++6, ...), as dh_shlibdeps would find them.
mkdir -p "$work/debian"
printf 'Source: sendense-run\n\nPackage: sendense-run\nArchitecture: any\n' >"$work/debian/control"
shlibs=$(cd "$work" && find root -name '*.node' -print0 | xargs -0 dpkg-shlibdeps -O 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@MAINTAINER@/$maintainer/" -e "s/@INSTALLED_SIZE@/$installed_size/" -e "s/@NODEJS@/$nodejs/" -e "s/@SHLIBS@/$shlibs/" \
  packaging/deb/control >"$root/DEBIAN/control"
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
deb="$out/sendense-run_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
