#!/usr/bin/env bash
# Runs the test suite (real qemu-img/qemu-nbd/nbdkit, a real sshd on 127.0.0.1, real SQLite),
# after making sure the tools and the build are there.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec npx vitest run "$@"
