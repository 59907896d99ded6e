# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup / pg_restore method logical against bare pg_dump / pg_restore, on
the lab's primary PostgreSQL with about 1.1 GB of varied rows (pg_data.py).

    backup   ours: pg_dump -Fd -Z0 -j2 streamed into the repository (zstd -1 and the default -3, age,
                   SHA-256, row counts and checksums of every table in the same snapshot)
             bare: pg_dump -Fd -j2 (default gzip), and pg_dump -Fd -j2 -Z0
    restore  ours: fetch + decrypt + pg_restore -j2 into a new database + verify every table, swap in
             bare: pg_restore -j2 of the default-compression dump into a new database

BENCH_PG_SCALE scales the data (1.0 = about 1.1 GB; 0.05 for a quick look).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks.common import Comparison, lab_facts, timed
from benchmarks.pg_data import ensure_database
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import ConnectionParams
from ansible_collections.resilience.dr.plugins.module_utils._postgres.logical_backup import logical_backup
from ansible_collections.resilience.dr.plugins.module_utils._postgres.logical_restore import logical_restore
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

DATABASE = "bench_pg"


def _directory_size(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def _run(argv: list[str], environment: dict[str, str]) -> None:
    subprocess.run(argv, env=environment, check=True, stdout=subprocess.DEVNULL)


def run() -> list[Comparison]:
    facts = lab_facts()["sites"]["primary"]["postgresql"]
    scale = float(os.environ.get("BENCH_PG_SCALE", "1.0"))
    libpq = {"host": facts["host"], "port": facts["port"], "user": facts["user"], "password": facts["password"]}
    size = ensure_database(libpq, DATABASE, scale)
    params = ConnectionParams(host=facts["host"], port=facts["port"], user=facts["user"], password=facts["password"])
    environment = {**os.environ, **params.environment()}
    admin = ["psql", "-X", "-q", "-d", "postgres", "-c"]
    identity = x25519.Identity.generate()
    work = Path(tempfile.mkdtemp(prefix="bench-postgresql-"))
    results = []
    try:
        bare_gzip, _value = timed(lambda: _run(["pg_dump", "-Fd", "-j2", "-f", str(work / "gzip"), DATABASE], environment))
        bare_plain, _value = timed(lambda: _run(["pg_dump", "-Fd", "-j2", "-Z0", "-f", str(work / "plain"), DATABASE],
                                                environment))
        gzip_size, plain_size = _directory_size(work / "gzip"), _directory_size(work / "plain")
        shutil.rmtree(work / "plain")
        for level in (1, 3):
            repository = open_repository({"repository": str(work / f"repository-{level}"), "compression_level": level,
                                          "encryption_recipients": [str(identity.to_public())]})
            ours_backup, backup = timed(lambda: logical_backup(  # pylint: disable=cell-var-from-loop
                repository, params, component="bench-pg", database=DATABASE, jobs=2))
            details = {"database_size": size, "pg_dump_gzip_bytes": gzip_size, "pg_dump_plain_bytes": plain_size,
                       "ours_stored_bytes": backup["size"], "ours_rows": backup["rows"],
                       "compression": f"zstd -{level} + age", "scale": scale}
            label = f"backup zstd -{level}{' (default)' if level == 3 else ''}"
            results.append(Comparison(
                name=f"{label} vs pg_dump -Fd -j2 (gzip)", ours_s=ours_backup, bare_s=bare_gzip, size_bytes=size,
                target="<= 0.6x the default-compression dump", passed=ours_backup <= 0.6 * bare_gzip, details=details))
            results.append(Comparison(
                name=f"{label} vs pg_dump -Fd -j2 -Z0", ours_s=ours_backup, bare_s=bare_plain, size_bytes=size,
                target="<= 1.25x the uncompressed dump", passed=ours_backup <= 1.25 * bare_plain, details=details))

        for name in ("bench_pg_bare", "bench_pg_ours"):
            _run([*admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], environment)
        _run([*admin, 'CREATE DATABASE "bench_pg_bare"'], environment)
        bare_restore, _value = timed(lambda: _run(["pg_restore", "-j2", "-d", "bench_pg_bare", str(work / "gzip")],
                                                  environment))
        reader = open_repository({"repository": str(work / "repository-1"), "encryption_identity": str(identity)})
        ours_restore, restored = timed(lambda: logical_restore(reader, params, component="bench-pg",
                                                               target_db="bench_pg_ours", jobs=2, restore_globals=False))
        results.append(Comparison(
            name="restore + verify vs pg_restore -j2", ours_s=ours_restore, bare_s=bare_restore, size_bytes=size,
            target="<= 1.1x bare pg_restore", passed=ours_restore <= 1.1 * bare_restore,
            details={"verified": restored["verified"], "scale": scale}))
    finally:
        for name in ("bench_pg_bare", "bench_pg_ours"):
            subprocess.run([*admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], env=environment, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return results
