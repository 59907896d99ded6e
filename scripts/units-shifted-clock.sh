#!/usr/bin/env bash
# Runs the unit suite again with the wall clock 400 days ahead and a time zone
# far from UTC, so a test that depends on today's date or on UTC being the
# local zone fails here instead of on some later day in CI.
#
# It runs the copy of the working tree that `scripts/ansible-test.sh units`
# made in .build/ (run `make units` first), with the environment's pytest.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
copy="$repo/.build/ansible_collections/resilience/dr"
shift_by=${UNITS_CLOCK_SHIFT:-+400 days}
zone=${UNITS_TIME_ZONE:-Pacific/Auckland}

if [[ ! -d "$copy/tests/unit" ]]; then
  echo "no copy of the collection in $copy: run scripts/ansible-test.sh units first" >&2
  exit 1
fi
command -v faketime >/dev/null || { echo "faketime is not installed (Debian package faketime; make setup installs it)" >&2; exit 1; }

cd "$copy"
echo "unit tests with the clock at $(TZ=$zone faketime "$shift_by" date '+%Y-%m-%d %H:%M %Z') ($shift_by, TZ=$zone)"
# The monotonic clock stays real: threads' timed waits misbehave when libfaketime shifts it.
# One process: under libfaketime the lock races (threads polling files) ran two
# to three times slower split over two workers than in one.
exec env TZ="$zone" FAKETIME_DONT_FAKE_MONOTONIC=1 \
  PYTHONPATH="$repo/.build:$copy/tests/unit/shifted_clock${PYTHONPATH:+:$PYTHONPATH}" \
  faketime "$shift_by" "$repo/.venv/bin/pytest" -q -p no:cacheprovider -p faketime_sleep tests/unit
