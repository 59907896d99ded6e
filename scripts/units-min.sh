#!/usr/bin/env bash
# Runs the unit suite with the lowest library versions requirements.txt allows,
# so a minimum it claims but the code no longer works with fails here instead
# of on a user's host.
#
# Its own virtual environment (.cache/venv-min): every "name>=version" of
# requirements.txt installed as "name==version" (wheels only, as users on
# Python 3.11 get them), plus the test tools at the versions
# requirements-dev.txt pins. It is made again only when one of those files
# changes. UV names the uv to use (the Makefile passes its own).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
uv=${UV:-uv}
python_version=${PYTHON_VERSION:-3.11}
venv="$repo/.cache/venv-min"
tree="$repo/.cache/units-min"
tools=(ansible-core hypothesis moto pytest)
cd "$repo"
if [[ ! -d .collections/ansible_collections/amazon/aws ]]; then
  echo "amazon.aws is not in .collections/: run make setup first" >&2
  exit 1
fi

inputs=$(cat requirements.txt requirements-dev.txt tests/unit/requirements.txt | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$venv/.installed" 2>/dev/null)" != "$inputs" ]]; then
  rm -rf "$venv"
  "$uv" venv --quiet --python "$python_version" "$venv"
  requirements=$(grep -cvE '^\s*(#|$)' requirements.txt)
  sed -n 's/^\([A-Za-z0-9_.-]*\)>=\([^,; #]*\)\s*$/\1==\2/p' requirements.txt >"$venv/lowest.txt"
  if [[ $(wc -l <"$venv/lowest.txt") -ne $requirements ]]; then
    echo "every line of requirements.txt must be name>=version (its minimum, tested here):" >&2
    grep -vE '^\s*(#|$)' requirements.txt | grep -vE '^[A-Za-z0-9_.-]+>=[^,; #]+\s*$' >&2 || true
    exit 1
  fi
  pattern=$(IFS='|'; echo "${tools[*]}")
  grep -E "^($pattern)==" requirements-dev.txt >"$venv/tools.txt"
  "$uv" pip install --quiet --python "$venv/bin/python" --only-binary :all: \
    -r requirements.txt -r tests/unit/requirements.txt -r "$venv/tools.txt" -c "$venv/lowest.txt"
  echo "$inputs" >"$venv/.installed"
fi

# The collection by its import path: this working tree and the amazon.aws of `make collections`.
mkdir -p "$tree/ansible_collections/resilience" "$tree/ansible_collections/amazon"
ln -sfn "$repo" "$tree/ansible_collections/resilience/dr"
ln -sfn "$repo/.collections/ansible_collections/amazon/aws" "$tree/ansible_collections/amazon/aws"

echo "unit tests with the lowest versions: $(tr '\n' ' ' <"$venv/lowest.txt")"
exec env PYTHONPATH="$tree" "$venv/bin/pytest" -q -p no:cacheprovider tests/unit
