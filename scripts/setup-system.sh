#!/usr/bin/env bash
# Installs the Debian packages the lab, the tests and the drill need.
# Idempotent: when every package is already installed it changes nothing and
# does not touch the network.
set -euo pipefail

packages=(
  postgresql-15 postgresql-contrib pgbackrest
  redis-server
  bind9 bind9-utils dnsutils
  zstd age jq
  faketime   # the unit suite runs once more under a shifted clock (make units-shifted-clock)
  python3-venv   # the private environment that installs uv (make setup)
  util-linux procps
  shellcheck
  nftables   # nft -c checks the security incident's quarantine rule set
  chromium   # renders the HTML reports and the DR plan document in the tests
)
# Extra packages asked for by a caller (for example the drill's browser check).
if [[ -n "${EXTRA_APT_PACKAGES:-}" ]]; then
  read -r -a extra <<<"${EXTRA_APT_PACKAGES}"
  packages+=("${extra[@]}")
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "system packages: all ${#packages[@]} present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    as_root=(sudo)
  else
    echo "system packages missing (${missing[*]}) and not running as root; install them and run again" >&2
    exit 1
  fi
else
  as_root=()
fi

echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
# Package scripts may start the system's own redis/named/postgresql services;
# the lab runs its own instances on other ports, so either outcome is fine.
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system packages: done"
