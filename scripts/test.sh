#!/usr/bin/env bash
# Usage: scripts/test.sh [--quick] [vitest args...]
# Runs the test suite (real qemu-img/qemu-nbd/nbdkit, a real sshd on 127.0.0.1, real SQLite),
# after making sure the tools and the build are there. Without arguments: the whole suite as CI
# runs it (scripts/test-all.sh: three Node.js lines side by side over one queue of test files,
# nothing skipped). --quick runs only the files that take under 8 s each (test/times.json; new
# files included): the edit loop, a few minutes. Other arguments go to one vitest run.
# SENDENSE_SETUP_DONE=1 skips the setup (.ci/run did it once for its parallel runs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  # The other lines' Node.js runtimes download while setup installs packages (as .ci/run does).
  if [ "${SENDENSE_SETUP_DONE:-}" != 1 ]; then
    for major in 20 22 24; do
      [ "$major" = "$(node -p 'process.versions.node.split(".")[0]')" ] && continue
      scripts/node-runtime.sh "$major" >/dev/null 2>&1 &
    done
    scripts/setup.sh
  fi
  exec scripts/test-all.sh
fi
[ "${SENDENSE_SETUP_DONE:-}" = 1 ] || scripts/setup.sh
if [ "${1:-}" = --quick ]; then
  shift
  # shellcheck disable=SC2046 # one word per test file
  exec npx vitest run "$@" $(node scripts/test-times.js quick)
fi
exec npx vitest run "$@"
