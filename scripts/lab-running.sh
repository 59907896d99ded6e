#!/usr/bin/env bash
# Exit 0 when the lab in $LAB_DIR is up to date and every server of it runs,
# so `make lab-up` can reuse it instead of replaying the whole role.
set -euo pipefail
lab_dir=${LAB_DIR:?LAB_DIR is not set}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
facts="$lab_dir/lab.json"
[[ -f "$facts" ]] || exit 1
# A role file newer than the last lab-up means the lab must be reconciled.
if [[ -n "$(find "$repo/roles/lab" -newer "$facts" -print -quit)" ]]; then
  exit 1
fi
# The servers lab-up keeps running (lab.json "autostart"), each by its control script.
mapfile -t servers < <(jq -r '.autostart[]' "$facts")
[[ ${#servers[@]} -gt 0 ]] || exit 1
for ctl in "${servers[@]}"; do
  "$ctl" status >/dev/null || exit 1
done
echo "lab: every server of $lab_dir is running (make lab-down to rebuild it)"
