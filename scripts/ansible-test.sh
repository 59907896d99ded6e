#!/usr/bin/env bash
# Runs ansible-test on this working tree.
#
# ansible-test insists on running inside .../ansible_collections/<ns>/<name>
# (it resolves symbolic links), so this copies the tracked and new files of the
# working tree to .build/ansible_collections/resilience/dr, beside the
# collections it depends on, and runs ansible-test there with the arguments
# given: scripts/ansible-test.sh sanity --venv --python 3.11
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$repo/.venv"
build="$repo/.build/ansible_collections"
copy="$build/resilience/dr"

# ansible-test bootstraps pip in each virtual environment it makes with a
# get-pip script it downloads from a host outside PyPI. This stand-in does
# the same job with the interpreter's own ensurepip and then PyPI.
pip_version=$("$venv/bin/python" - <<'PY'
from types import SimpleNamespace
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(SimpleNamespace(version="3.11"))["pip"])
PY
)
stand_in="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [[ ! -f "$stand_in" ]]; then
  mkdir -p "$(dirname "$stand_in")"
  cat >"$stand_in" <<'PY'
"""Stand-in for get-pip.py: ensurepip, then pip installs the requested packages."""
import subprocess
import sys

subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
arguments = [argument for argument in sys.argv[1:] if argument not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.run([sys.executable, "-m", "pip", "install", *arguments], check=False).returncode)
PY
fi

rm -rf "$copy"
mkdir -p "$copy" "$build/amazon"
ln -sfn "$repo/.collections/ansible_collections/amazon/aws" "$build/amazon/aws"
cd "$repo"
# Tracked files still on disk plus new files git does not ignore.
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' path; do [[ -e "$path" || -L "$path" ]] && printf '%s\0' "$path"; done \
  | tar --null --files-from=- -cf - \
  | tar -xf - -C "$copy"

cd "$copy"
# ansible-test lists files through the nearest git repository; give the copy
# its own, or it would find this repository, where .build/ is ignored.
git init --quiet .
export PATH="$venv/bin:$PATH"
status=0
ansible-test "$@" || status=$?
# Keep ansible-test's reports where a person looks for them.
if [[ -d "$copy/tests/output" ]]; then
  mkdir -p "$repo/tests/output"
  cp -a "$copy/tests/output/." "$repo/tests/output/"
fi
exit "$status"
