#!/usr/bin/env bash
# Prints, as JSON, a fingerprint of the application's data read straight from
# the servers (never through the collection): every table of the database
# (rows, MD5 of the sorted rows), every Redis key (count, how many expire,
# SHA-1 over key, type and value) and the uploads directory (tree with modes,
# SHA-256 of the contents, file count).
# Connections come from the environment: PGHOST PGPORT PGUSER PGPASSFILE
# PGDATABASE, REDIS_HOST REDIS_PORT REDIS_PASSWORD_FILE, UPLOADS; passwords
# are read from files, never passed in an environment variable or argument.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

tables=$(psql --no-psqlrc --no-align --tuples-only --set=ON_ERROR_STOP=1 --file="$here/fingerprint.sql")

mapfile -t redis < <(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --askpass --raw EVAL "$(cat "$here/fingerprint.lua")" 0 <"$REDIS_PASSWORD_FILE")
if [[ ${#redis[@]} -ne 3 || ! ${redis[0]} =~ ^[0-9]+$ ]]; then
  echo "Redis at $REDIS_HOST:$REDIS_PORT did not answer the fingerprint script: ${redis[*]}" >&2
  exit 1
fi

cd "$UPLOADS"
tree=$(find . -mindepth 1 -printf '%y %m %P\n' | LC_ALL=C sort | sha256sum | cut -d' ' -f1)
content=$(find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1)
files=$(find . -type f | wc -l)

jq --null-input --sort-keys \
  --argjson tables "$tables" \
  --argjson keys "${redis[0]}" --argjson expiring "${redis[1]}" --arg sha1 "${redis[2]}" \
  --arg tree "$tree" --arg content "$content" --argjson files "$files" \
  '{"orders-db": $tables,
    "sessions": {keys: $keys, expiring: $expiring, sha1: $sha1},
    "uploads": {tree_sha256: $tree, content_sha256: $content, files: $files}}'
