#!/usr/bin/env bash
# Puts the lab's servers and services back the way its other users expect
# them, changing only what differs, and prints one line per change:
#   lab_baseline.sh START_CTL... -- STOP_CTL...
# starts (in order) every control script before "--" whose server is not
# running and stops every one after it that runs. Then creates the
# application database (PGDATABASE, owned by APP_DB_OWNER) and the uploads
# directory (UPLOADS, owned by UPLOADS_OWNER) when they are missing; the
# application services after a new database are restarted, so that they
# prepare their schema in it.
set -euo pipefail
start=() stop=() into=start
for argument in "$@"; do
  if [[ "$argument" == -- ]]; then into=stop; continue; fi
  if [[ $into == start ]]; then start+=("$argument"); else stop+=("$argument"); fi
done

for ctl in "${stop[@]}"; do
  if "$ctl" status >/dev/null 2>&1; then
    "$ctl" stop >/dev/null
    echo "changed: stopped $(basename "$ctl")"
  fi
done
# Servers first (they come first in the arguments), the database, then the services.
for ctl in "${start[@]}"; do
  started=
  if ! "$ctl" status >/dev/null 2>&1; then
    "$ctl" start >/dev/null
    echo "changed: started $(basename "$ctl")"
    started=yes
  fi
  if [[ "$(basename "$ctl")" == *-postgresql ]]; then
    created=$(psql --no-psqlrc --tuples-only --set=ON_ERROR_STOP=1 --dbname=postgres <<SQL
SELECT 'CREATE DATABASE "$PGDATABASE" OWNER "$APP_DB_OWNER"'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PGDATABASE') \gexec
SQL
)
    if [[ "$created" == *"CREATE DATABASE"* ]]; then
      echo "changed: created the database $PGDATABASE"
      database_created=yes
    fi
  elif [[ -n "${database_created:-}" && -z "$started" && "$(basename "$ctl")" != *-redis ]]; then
    # An application service that ran on the lost database: restarted, it
    # prepares its schema in the new one as when the lab started it.
    "$ctl" restart >/dev/null
    echo "changed: restarted $(basename "$ctl") on the new database"
  fi
  if [[ "$(basename "$ctl")" == *-redis && ! -d "$UPLOADS" ]]; then
    install -d -m 0750 -o "$UPLOADS_OWNER" -g "$UPLOADS_OWNER" "$UPLOADS"
    echo "changed: created $UPLOADS"
  fi
done
