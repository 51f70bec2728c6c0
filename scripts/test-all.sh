#!/usr/bin/env bash
# Usage: scripts/test-all.sh [--checks]
# The whole test suite once, as CI runs it (.ci/run) and as scripts/test.sh without arguments does:
# split over the three supported Node.js lines (20, 22 and 24) running side by side, each taking the
# next chunk of one queue of test files. --checks: the type, lint and import-cycle checks beside
# them. Setup must be done (SENDENSE_SETUP_DONE=1). Prints each line's counts, the failures again at
# the end, and last the summary line of every chunk's tests added up.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
with_checks=0
[ "${1:-}" = --checks ] && with_checks=1
logs="$(mktemp -d)"
export SENDENSE_SETUP_DONE=1
system="$(node -p 'process.versions.node.split(".")[0]')"
lines=("$system")
for major in 20 22 24; do [ "$major" = "$system" ] || lines+=("$major"); done
bad=0
# Every test file runs once, on one of the three lines, which run at once: each takes the next
# chunk of a queue of test files (scripts/test-times.js queue: longest first, from test/times.json,
# smaller chunks towards the end) when done with the last, so the lines end together whatever this
# machine's times are (a fixed split ended minutes apart where its times did not hold). The package
# tests, which build and install with the system's Node.js and npm, run on the system's line; the
# compile-cache test on another. One file at a time per line: most tests wait on qemu, sshd or a
# guest, so three files at a time fill two cores. The system's line starts now; the others once
# their runtime is ready (Node.js from the npm registry, cached under ~/.cache/sendense-run, native
# addons rebuilt for each). Each chunk's report (file times, test counts) lands in the queue's folder.
queue="$logs/queue"
node scripts/test-times.js queue "$queue" 3
pids=()
for i in 0 1 2; do
  major="${lines[$i]}"
  (
    if [ "$major" != "$system" ]; then
      scripts/test-node.sh "$major" --prepare >"$logs/prepare-$major.log" 2>&1 ||
        { cat "$logs/prepare-$major.log"; echo "ci: the Node.js $major runtime could not be made ready"; exit 1; }
    fi
    exec scripts/test-node.sh "$major" --queue "$queue" "$i" --maxWorkers=1
  ) >"$logs/$major.log" 2>&1 &
  pids+=($!)
done

if [ "$with_checks" = 1 ]; then
  # Meanwhile the checks. The tests and benches are type-checked too (the build checks src only): a
  # test whose fixtures no longer match the types it tests would otherwise run on stale shapes. The
  # format (prettier), lint rules (eslint) and no import cycles (madge): a tree a newcomer can
  # change. Side by side, each printed whole once done; a failed one fails CI after the tests.
  checks=()
  for check in typecheck lint cycles; do
    npm run --silent "$check" >"$logs/check-$check.log" 2>&1 &
    checks+=("$check:$!")
  done
  bad=0
  for entry in "${checks[@]}"; do
    wait "${entry#*:}" || { echo "ci: npm run ${entry%%:*} failed" >&2; bad=1; }
    cat "$logs/check-${entry%%:*}.log"
  done
  echo "ci: checks done in $((SECONDS - started)) s"
fi

failed=() # the lines (0-2) whose run failed
for i in 0 1 2; do
  wait "${pids[$i]}" || failed+=("$i")
done

# What follows only prints: a `head` that stops reading early must not end CI (SIGPIPE, 141).
set +o pipefail
for i in 0 1 2; do
  major="${lines[$i]}"
  echo "=== Node.js $major ==="
  line_reports=("$queue"/report-"$i"-*.json)
  [ -e "${line_reports[0]}" ] && node scripts/test-times.js summary "${line_reports[@]}" | sed 's/^tests: /tests /'
  files="$(sed -E 's/\x1b\[[0-9;]*m//g' "$logs/$major.log" | grep -a -c -E '^ *(✓|×|❯) (test|src|runners)/' || true)"
  echo "$(ls "$queue" | grep -c "\.line$i\$" || true) chunks, $files files"
done
# The failures again, at the end, where a reader of the tail of this log looks first.
for i in "${failed[@]}"; do
  major="${lines[$i]}"
  echo "=== failures on Node.js $major ==="
  line_reports=("$queue"/report-"$i"-*.json)
  [ -e "${line_reports[0]}" ] && node scripts/test-times.js failures "${line_reports[@]}" | head -40
  if grep -q 'Failed Tests\|Failed Suites\|FAIL' "$logs/$major.log"; then
    # A failed hook or import is listed under "Failed Suites", a failed test under "Failed Tests".
    sed -n '/Failed Suites\|Failed Tests/,/Test Files/p' "$logs/$major.log" | head -200
  else
    tail -60 "$logs/$major.log"
  fi
  grep -a -E 'Error: .*(Worker exited|Unhandled)|Unhandled Rejection|Unhandled Error' "$logs/$major.log" | head -20 || true
done
reports=("$queue"/report-*.json)
if [ -e "${reports[0]}" ]; then
  node scripts/test-times.js slowest "${reports[@]}"
  echo "ci: the chunks' reports (for scripts/test-times.js record) are in $queue"
else
  reports=()
fi
# A chunk whose vitest ended before writing its report has no counts in the line below.
taken="$(ls "$queue" | grep -c '\.chunk\.line' || true)"
[ "$taken" -le ${#reports[@]} ] || echo "ci: $((taken - ${#reports[@]})) chunk(s) wrote no report (a vitest that ended early): see the failures above"
echo "ci: $((SECONDS - started)) s in all"
# The closing line: every chunk's tests added up.
[ ${#reports[@]} -eq 0 ] || node scripts/test-times.js summary "${reports[@]}"
[ "$bad" = 0 ] || { echo "ci: a check failed (above: typecheck, lint or cycles)" >&2; exit 1; }
if [ ${#failed[@]} -gt 0 ]; then
  failed_majors=()
  for i in "${failed[@]}"; do failed_majors+=("${lines[$i]}"); done
  echo "ci: the suite failed on Node.js ${failed_majors[*]}" >&2
  exit 1
fi
