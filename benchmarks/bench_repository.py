# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The repository writer (zstd + age + SHA-256 into a local repository) against
the bare `zstd -1 -T2 | sha256sum`, on 1 GiB of pg_dump-like text."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from benchmarks.common import GiB, Comparison, dump_like_text, run_pipeline, timed
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository


def _ours(source: Path, repository: Path, level: int) -> float:
    identity = x25519.Identity.generate()
    store = open_repository({
        "repository": str(repository), "compression_level": level, "compression_threads": 2,
        "encryption_recipients": [str(identity.to_public())],
    })

    def backup() -> None:
        with store.new_backup("bench", kind="benchmark", method="raw") as session:
            session.add_file("dump.txt", str(source))

    seconds, _value = timed(backup)
    return seconds


def run() -> list[Comparison]:
    source = dump_like_text(GiB)
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="bench-repository-"))
    try:
        # Warm the page cache so both sides read from memory.
        run_pipeline([["cat", str(source)]])
        bare, _value = timed(lambda: run_pipeline([["zstd", "-1", "-T2", "-c", str(source)], ["sha256sum"]]))
        for level in (1, 3):
            ours = _ours(source, workdir / f"level{level}", level)
            throughput = GiB / ours / 1e6
            passed = throughput >= 300 and bare / ours >= 0.8 if level == 1 else True
            results.append(Comparison(
                name=f"write 1 GiB, zstd -{level} + age + SHA-256", ours_s=ours, bare_s=bare, size_bytes=GiB,
                target="level 1: >= 300 MB/s and >= 0.8x the bare throughput" if level == 1 else "default level, for reference",
                passed=passed, details={"level": level, "bare": "zstd -1 -T2 | sha256sum"},
            ))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results
