# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup / pg_restore method logical against bare pg_dump / pg_restore, on
the lab's primary PostgreSQL, for each data set of pg_data.py (about 1 GB of
dump each at scale 1.0): varied text, and data that compresses poorly (random
hex, UUIDs, bytea of random and of already compressed bytes).

    backup   ours: pg_dump -Fd -Z0 -j2 streamed into the repository (zstd at the default level, and at the
                   other levels asked for; age, SHA-256, row counts and checksums of every table in the
                   same snapshot)
             bare: pg_dump -Fd -j2 (default gzip), and pg_dump -Fd -j2 -Z0
    restore  ours: fetch + decrypt + pg_restore -j2 into a new database + verify every table, swap in
             bare: pg_restore -j2 of the default-compression dump into a new database

Each run also records CPU seconds (of the benchmark process with its children,
of the database server, and of the whole machine): on a shared machine they
vary far less than wall-clock times. The machine's CPU seconds over the
cores is the least time a side can take: where ours needs more CPU than
the goal's time on the cores gives it, the goal is out of reach without
taking work out.

BENCH_PG_SCALE scales the data (1.0 = about 1 GB of dump per data set; 0.05 for a quick look).
BENCH_PG_DATA  text, incompressible or both (the default).
BENCH_PG_LEVELS  comma-separated zstd levels to measure besides the default (default: 3).
BENCH_PG_RESTORE  0 to measure backups only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks.common import Comparison, Measured, lab_facts, measured
from benchmarks.pg_data import DATA_SETS, ensure_database
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import ConnectionParams, connect
from ansible_collections.resilience.dr.plugins.module_utils._postgres.logical_backup import DEFAULT_COMPRESSION_LEVEL, logical_backup
from ansible_collections.resilience.dr.plugins.module_utils._postgres.logical_restore import logical_restore
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

DATABASES = {"text": "bench_pg", "incompressible": "bench_pg_incompressible"}


def _directory_size(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def _run(argv: list[str], environment: dict[str, str]) -> None:
    subprocess.run(argv, env=environment, check=True, stdout=subprocess.DEVNULL)


def _data_sets() -> list[str]:
    chosen = os.environ.get("BENCH_PG_DATA", "both")
    if chosen == "both":
        return list(DATA_SETS)
    if chosen not in DATA_SETS:
        raise ValueError(f"BENCH_PG_DATA={chosen}: choose text, incompressible or both")
    return [chosen]


def _levels() -> list[int]:
    others = [int(level) for level in os.environ.get("BENCH_PG_LEVELS", "3").split(",") if level.strip()]
    return [DEFAULT_COMPRESSION_LEVEL] + [level for level in others if level != DEFAULT_COMPRESSION_LEVEL]


def _postmaster(params: ConnectionParams) -> int:
    connection = connect(params, "postgres")
    try:
        # Read while the session is open: once it is closed, its backend process may already be gone.
        with open(f"/proc/{connection.get_backend_pid()}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[1])
    finally:
        connection.close()


def _cpu(name: str, run: Measured) -> str:
    return f"{name} {run.cpu_s:.1f} + server {run.server_cpu_s:.1f} CPU s (machine {run.machine_cpu_s:.1f})"


def _one_data_set(data_set: str, params: ConnectionParams, scale: float, work: Path) -> list[Comparison]:
    database = DATABASES[data_set]
    libpq = {"host": params.host, "port": params.port, "user": params.user, "password": params.password}
    size = ensure_database(libpq, database, scale, data_set)
    environment = {**os.environ, **params.environment()}
    postmaster = _postmaster(params)
    identity = x25519.Identity.generate()
    results = []
    bare_gzip, _value = measured(lambda: _run(["pg_dump", "-Fd", "-j2", "-f", str(work / "gzip"), database], environment),
                                 postmaster)
    bare_plain, _value = measured(lambda: _run(["pg_dump", "-Fd", "-j2", "-Z0", "-f", str(work / "plain"), database],
                                               environment), postmaster)
    gzip_size, plain_size = _directory_size(work / "gzip"), _directory_size(work / "plain")
    shutil.rmtree(work / "plain")
    for level in _levels():
        repository = open_repository({"repository": str(work / f"repository-{level}"), "compression_level": level,
                                      "encryption_recipients": [str(identity.to_public())]})
        ours, backup = measured(lambda: logical_backup(  # pylint: disable=cell-var-from-loop
            repository, params, component="bench-pg", database=database, jobs=2), postmaster)
        details = {"data_set": data_set, "database_size": size, "pg_dump_gzip_bytes": gzip_size,
                   "pg_dump_plain_bytes": plain_size, "ours_stored_bytes": backup["size"], "ours_rows": backup["rows"],
                   "compression": f"zstd -{level} + age", "scale": scale, **ours.details("ours"),
                   **bare_gzip.details("gzip"), **bare_plain.details("plain")}
        label = f"{data_set}: backup zstd -{level}{' (default)' if level == DEFAULT_COMPRESSION_LEVEL else ''}"
        print(f"  {label}: stored {backup['size'] / 1e6:.0f} MB (gzip {gzip_size / 1e6:.0f} MB, -Z0 {plain_size / 1e6:.0f} MB); "
              f"{_cpu('ours', ours)}, {_cpu('gzip', bare_gzip)}, {_cpu('-Z0', bare_plain)}", flush=True)
        results.append(Comparison(
            name=f"{label} vs pg_dump -Fd -j2 (gzip)", ours_s=ours.wall_s, bare_s=bare_gzip.wall_s, size_bytes=size,
            target="<= 0.45x the default-compression dump", passed=ours.wall_s <= 0.45 * bare_gzip.wall_s,
            details=details))
        results.append(Comparison(
            name=f"{label} vs pg_dump -Fd -j2 -Z0", ours_s=ours.wall_s, bare_s=bare_plain.wall_s, size_bytes=size,
            target="<= 1.25x the uncompressed dump", passed=ours.wall_s <= 1.25 * bare_plain.wall_s, details=details))

    if os.environ.get("BENCH_PG_RESTORE", "1") != "0":
        results.append(_restore(data_set, params, environment, work, size, str(identity)))
    return results


def _restore(data_set: str, params: ConnectionParams, environment: dict[str, str], work: Path, size: int,
             identity: str) -> Comparison:
    admin = ["psql", "-X", "-q", "-d", "postgres", "-c"]
    try:
        for name in ("bench_pg_bare", "bench_pg_ours"):
            _run([*admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], environment)
        _run([*admin, 'CREATE DATABASE "bench_pg_bare"'], environment)
        postmaster = _postmaster(params)
        bare, _value = measured(lambda: _run(["pg_restore", "-j2", "-d", "bench_pg_bare", str(work / "gzip")], environment),
                                postmaster)
        reader = open_repository({"repository": str(work / f"repository-{DEFAULT_COMPRESSION_LEVEL}"),
                                  "encryption_identity": identity})
        ours, restored = measured(lambda: logical_restore(reader, params, component="bench-pg", target_db="bench_pg_ours",
                                                          jobs=2, restore_globals=False), postmaster)
    finally:
        for name in ("bench_pg_bare", "bench_pg_ours"):
            subprocess.run([*admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], env=environment, check=False)
    return Comparison(
        name=f"{data_set}: restore + verify vs pg_restore -j2", ours_s=ours.wall_s, bare_s=bare.wall_s, size_bytes=size,
        target="<= 1.1x bare pg_restore", passed=ours.wall_s <= 1.1 * bare.wall_s,
        details={"data_set": data_set, "verified": restored["verified"], **ours.details("ours"),
                 **bare.details("bare")})


def run() -> list[Comparison]:
    facts = lab_facts()["sites"]["primary"]["postgresql"]
    scale = float(os.environ.get("BENCH_PG_SCALE", "1.0"))
    params = ConnectionParams(host=facts["host"], port=facts["port"], user=facts["user"], password=facts["password"])
    results = []
    for data_set in _data_sets():
        work = Path(tempfile.mkdtemp(prefix=f"bench-postgresql-{data_set}-"))
        try:
            results.extend(_one_data_set(data_set, params, scale, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return results
