# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_backup / files_restore against bare `tar -cf - | zstd -1 -T2` and
`zstd -d | tar -x`, on a 1 GiB tree of mixed file sizes (log-like text and
incompressible bytes, small to large files). BENCH_FILES_MIB changes the size."""

from __future__ import annotations

import os
import random
import resource
import shutil
import tempfile
from pathlib import Path

from benchmarks.common import CACHE, MiB, Comparison, cpu_seconds, run_pipeline, timed

from ansible_collections.resilience.dr.plugins.module_utils._files import files_backup
from ansible_collections.resilience.dr.plugins.module_utils._files_restore import files_restore
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

# (count per GiB, size range in bytes): mostly small files, the bytes mostly in medium and large ones.
MIX = [(6000, (1024, 64 * 1024)), (300, (256 * 1024, 2 * MiB)), (40, (4 * MiB, 12 * MiB))]


def log_like_text(rng: random.Random, size: int) -> bytes:
    """Application-log-like lines (ids, times, words, JSON), cheap to generate."""
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 11))) for _word in range(5000)]
    lines = []
    produced = 0
    while produced < size:
        line = (f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z "
                f"{rng.choice(('INFO', 'WARN', 'DEBUG'))} req={rng.getrandbits(48):012x} user={rng.randint(1, 250000)} "
                f"{' '.join(rng.sample(words, rng.randint(3, 12)))} {{\"ms\": {rng.randint(1, 900)}}}\n")
        lines.append(line)
        produced += len(line)
    return "".join(lines).encode()[:size]


def mixed_tree(total: int) -> Path:
    """A tree of about `total` bytes: 3 of 4 files text, 1 of 4 random bytes (images, PDFs), nested directories."""
    root = CACHE / f"files-tree-{total // MiB}MiB"
    marker = root / ".complete"
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(20261123)
    text = log_like_text(rng, 16 * MiB)
    written, number = 0, 0
    while written < total:
        for count, (low, high) in MIX:
            for _file in range(max(1, count // 16)):
                size = min(rng.randint(low, high), total - written)
                if size <= 0:
                    break
                directory = root / f"d{number % 37:02d}" / f"e{number % 11:02d}"
                directory.mkdir(parents=True, exist_ok=True)
                if number % 4 == 3:
                    data = rng.randbytes(size)
                else:
                    start = rng.randint(0, len(text) - size)
                    data = text[start:start + size]
                (directory / f"file-{number:06d}.dat").write_bytes(data)
                written += size
                number += 1
    marker.write_text(f"{number} files, {written} bytes\n")
    return root


def timed_cpu(function, who: int):  # type: ignore[no-untyped-def]
    """Wall and CPU seconds of function; who is RUSAGE_SELF (ours) or RUSAGE_CHILDREN (the bare commands).

    CPU seconds say what each side costs when the shared machine's load
    makes the wall times of one run noisy. The page cache is written out
    first, so neither side pays for writing out what the one before it wrote.
    """
    os.sync()
    before = cpu_seconds(who)
    seconds, value = timed(function)
    return seconds, round(cpu_seconds(who) - before, 2), value


def run() -> list[Comparison]:
    total = int(os.environ.get("BENCH_FILES_MIB", "1024")) * MiB
    tree = mixed_tree(total)
    size = sum(path.stat().st_size for path in tree.rglob("*") if path.is_file())
    workdir = Path(tempfile.mkdtemp(prefix="bench-files-", dir=str(CACHE)))
    options = {"repository": str(workdir / "repository"), "compression_level": 1, "compression_threads": 2}
    results = []
    try:
        run_pipeline([["tar", "-cf", "-", "-C", str(tree), "."], ["cat"]])  # warm the page cache for both sides
        archive = workdir / "bare.tar.zst"
        bare, bare_cpu, _value = timed_cpu(lambda: run_pipeline([
            ["tar", "-cf", "-", "-C", str(tree), "."], ["zstd", "-1", "-T2", "-q", "-o", str(archive)]]),
            resource.RUSAGE_CHILDREN)
        ours, ours_cpu, backup = timed_cpu(lambda: files_backup(
            open_repository(options), component="bench", path=str(tree), exclude=[], check_mode=False),
            resource.RUSAGE_SELF)
        results.append(Comparison(
            name=f"files_backup {size // MiB} MiB tree, zstd -1", ours_s=ours, bare_s=bare, size_bytes=size,
            target=">= 0.95x the bare throughput", passed=bare / ours >= 0.95,
            details={"bare": "tar -cf - | zstd -1 -T2", "files": backup["files"], "stored_size": backup["stored_size"],
                     "bare_size": archive.stat().st_size, "ours_cpu_s": ours_cpu, "bare_cpu_s": bare_cpu},
        ))
        bare_target = workdir / "bare-restored"
        bare_target.mkdir()
        bare, bare_cpu, _value = timed_cpu(lambda: run_pipeline([
            ["zstd", "-d", "-q", "-c", str(archive)], ["tar", "-xf", "-", "-C", str(bare_target)]]),
            resource.RUSAGE_CHILDREN)
        ours_target = workdir / "restored"
        ours, ours_cpu, _value = timed_cpu(
            lambda: files_restore(open_repository(options), component="bench", path=str(ours_target)),
            resource.RUSAGE_SELF)
        results.append(Comparison(
            name=f"files_restore {size // MiB} MiB tree (with verification)", ours_s=ours, bare_s=bare, size_bytes=size,
            target="<= 1.3x the bare time; ours also checks every file's SHA-256 as it writes it",
            passed=ours / bare <= 1.3,
            details={"bare": "zstd -d | tar -x", "ours_cpu_s": ours_cpu, "bare_cpu_s": bare_cpu},
        ))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results
