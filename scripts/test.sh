#!/usr/bin/env bash
# Usage: scripts/test.sh [--quick] [vitest args...]
# Runs the test suite (real qemu-img/qemu-nbd/nbdkit, a real sshd on 127.0.0.1, real SQLite),
# after making sure the tools and the build are there. --quick runs only the files that take
# under 8 s each (test/times.json; new files included): the edit loop, a few minutes.
# SENDENSE_SETUP_DONE=1 skips the setup (.ci/run did it once for its parallel runs).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SENDENSE_SETUP_DONE:-}" = 1 ] || scripts/setup.sh
if [ "${1:-}" = --quick ]; then
  shift
  # shellcheck disable=SC2046 # one word per test file
  exec npx vitest run "$@" $(node scripts/test-times.js quick)
fi
exec npx vitest run "$@"
