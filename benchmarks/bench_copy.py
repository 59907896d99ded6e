# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_copy against the bare copy of the same stored files, for a backup of
1 GiB stored bytes (four 256 MiB files of incompressible data, as uploads or
already compressed dumps are):

- local -> local: ours (copied by the kernel, hashed from the page cache
  while it is written out, checked against the manifest before it is
  renamed into place, fsynced) against `cp -r` + `sync` of the backup
  directory (durable, no check);
- local -> the lab's S3: ours (source checked against its SHA-256, multipart
  upload with CRC32 part checksums, stored checksum compared) against boto3's `upload_file`
  of every stored file, which is what `aws s3 cp --recursive` does.

Both sides' CPU time (user + system, this process and its children) and
the load average are reported with the times: on a shared machine whose
cores are all busy, a side gets CPU time at a rate it does not control, and
the time ratio then follows the CPU ratio, which for a check by SHA-256
(about 0.75 s of CPU per GiB with SHA extensions) against a copy the kernel
makes (`cp`, about 0.6 s per GiB) cannot come near 1.2.

SHA-256 runs at well under the speed of a page-cache copy on small CPUs, so
each is also compared with the bare tools doing the same checks by hand:
`cp` + `sync` + `sha256sum --check` of source and copy, and `sha256sum` of the
source + `upload_file` with SHA-256 checksums (`aws s3 cp
--checksum-algorithm SHA256`).

BENCH_COPY_MIB sets the size (default 1024)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import typing as t
import uuid
from pathlib import Path

from benchmarks.common import CACHE, MiB, Comparison, lab_facts, process_cpu_seconds

from ansible_collections.resilience.dr.plugins.module_utils._repository.copy import copy_backups
from ansible_collections.resilience.dr.plugins.module_utils._repository.copy_options import open_copy_repositories
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

FILES = 4
TARGET = 1.2  # ours may take at most this many times the bare copy


def _source(size: int) -> tuple[Path, Path]:
    """A cached repository holding one backup of `size` stored bytes; (repository, backup directory)."""
    repository = CACHE / f"copy-source-{size // MiB}MiB"
    component = repository / "bench"
    if component.is_dir():
        backups = [path for path in component.iterdir() if (path / "manifest.json").is_file()]
        if backups:
            return repository, backups[0]
    shutil.rmtree(repository, ignore_errors=True)
    store = open_repository({"repository": str(repository), "compression_level": 1})
    piece = size // FILES
    with store.new_backup("bench", kind="benchmark", method="raw") as backup:
        for number in range(FILES):
            backup.add_from_producer(f"data/part{number}.bin", lambda sink: _random(sink, piece))
    return repository, component / backup.backup_id


def timed(function) -> tuple[float, dict, t.Any]:
    """Wall seconds, {cpu_s, load} and the value of function()."""
    load = os.getloadavg()[0]
    cpu = process_cpu_seconds()
    started = time.perf_counter()
    value = function()
    seconds = time.perf_counter() - started
    return seconds, {"cpu_s": round(process_cpu_seconds() - cpu, 2), "load_1min": f"{load:.1f} -> {os.getloadavg()[0]:.1f}"}, value


def _details(bare_use: dict, ours_use: dict, **more: t.Any) -> dict:
    return {**more, "bare_cpu_s": bare_use["cpu_s"], "ours_cpu_s": ours_use["cpu_s"],
            "bare_load": bare_use["load_1min"], "ours_load": ours_use["load_1min"]}


def _random(sink, size: int) -> None:
    written = 0
    while written < size:
        chunk = os.urandom(min(8 * MiB, size - written))
        sink.write(chunk)
        written += len(chunk)


def _warm(directory: Path) -> int:
    """Read every file once so both sides start from the page cache; returns the bytes."""
    total = 0
    for path in directory.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                while True:
                    data = handle.read(8 * MiB)
                    if not data:
                        break
                    total += len(data)
    return total


def _sha256sum_check(directory: Path) -> None:
    """sha256sum --check of the stored files of a backup directory against its manifest."""
    manifest = json.loads((directory / "manifest.json").read_text())
    listing = "".join(f"{item['sha256']}  {item['path']}\n" for item in manifest["files"])
    subprocess.run(["sha256sum", "--check", "--strict", "--quiet"], input=listing.encode(), cwd=directory, check=True)


def _local(repository: Path, backup: Path, stored: int, workdir: Path) -> list[Comparison]:
    def bare(target: Path, check: bool) -> None:
        if check:
            _sha256sum_check(backup)
        subprocess.run(["cp", "-r", str(backup), str(target)], check=True)
        files = [str(path) for path in target.rglob("*") if path.is_file()]
        subprocess.run(["sync", *files], check=True)
        if check:
            _sha256sum_check(target)

    bare_s, bare_use, _value = timed(lambda: bare(workdir / "bare", False))
    _warm(backup)
    source, destination = open_copy_repositories({
        "source_repository": str(repository), "destination_repository": str(workdir / "ours"),
    })
    ours_s, ours_use, result = timed(lambda: copy_backups(source, destination))
    assert result["copied"][0]["files_sent"] == FILES, result
    _warm(backup)
    checked_s, checked_use, _value = timed(lambda: bare(workdir / "checked", True))
    return [
        Comparison(
            name=f"copy {stored // MiB} MiB backup local -> local", ours_s=ours_s, bare_s=bare_s, size_bytes=stored,
            target=f"<= {TARGET}x the bare copy's time", passed=ours_s <= TARGET * bare_s,
            details=_details(bare_use, ours_use, bare="cp -r + sync",
                             ours="kernel copy, hashed from the page cache while written out, checked, fsync"),
        ),
        Comparison(
            name="  same, bare with the same checks", ours_s=ours_s, bare_s=checked_s, size_bytes=stored,
            target=f"<= {TARGET}x the bare checked copy's time", passed=ours_s <= TARGET * checked_s,
            details=_details(checked_use, ours_use, bare="sha256sum --check + cp -r + sync + sha256sum --check"),
        ),
    ]


def _s3(repository: Path, backup: Path, stored: int) -> list[Comparison]:
    import boto3  # only this benchmark needs it

    aws = lab_facts()["aws"]
    client = boto3.client(
        "s3", endpoint_url=aws["endpoint_url"], region_name=aws["region"],
        aws_access_key_id=aws["access_key"], aws_secret_access_key=aws["secret_key"],
    )
    bucket = f"bench-copy-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    try:
        def bare(prefix: str, check: bool) -> None:
            if check:
                _sha256sum_check(backup)
            extra = {"ChecksumAlgorithm": "SHA256"} if check else None
            for path in sorted(backup.rglob("*")):
                if path.is_file():
                    client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(backup.parent.parent)}",
                                       ExtraArgs=extra)

        client.list_objects_v2(Bucket=bucket, MaxKeys=1)  # both sides start connected
        bare_s, bare_use, _value = timed(lambda: bare("bare", False))
        _warm(backup)
        source, destination = open_copy_repositories({
            "source_repository": str(repository), "destination_repository": f"s3://{bucket}/ours",
            "endpoint_url": aws["endpoint_url"], "region": aws["region"],
            "access_key": aws["access_key"], "secret_key": aws["secret_key"],
        })
        destination.backend.client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        ours_s, ours_use, result = timed(lambda: copy_backups(source, destination))
        assert result["copied"][0]["files_sent"] == FILES, result
        checked_by = result["copied"][0]["checked_by"]
        _warm(backup)
        checked_s, checked_use, _value = timed(lambda: bare("checked", True))
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
        client.delete_bucket(Bucket=bucket)
    return [
        Comparison(
            name=f"copy {stored // MiB} MiB backup local -> S3 (lab moto)", ours_s=ours_s, bare_s=bare_s,
            size_bytes=stored, target=f"<= {TARGET}x the bare upload's time", passed=ours_s <= TARGET * bare_s,
            details=_details(bare_use, ours_use, bare="boto3 upload_file per file (aws s3 cp)", ours_checked_by=checked_by),
        ),
        Comparison(
            name="  same, bare with the same checks", ours_s=ours_s, bare_s=checked_s, size_bytes=stored,
            target=f"<= {TARGET}x the bare checked upload's time", passed=ours_s <= TARGET * checked_s,
            details=_details(checked_use, ours_use, bare="sha256sum --check + upload_file with SHA-256 checksums"),
        ),
    ]


def run() -> list[Comparison]:
    size = int(os.environ.get("BENCH_COPY_MIB", "1024")) * MiB
    repository, backup = _source(size)
    stored = _warm(backup)
    workdir = Path(tempfile.mkdtemp(prefix="bench-copy-", dir=CACHE))
    try:
        results = _local(repository, backup, stored, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _warm(backup)
    results += _s3(repository, backup, stored)
    for comparison in results:
        details = comparison.details
        print(f"{comparison.name.strip():<44} CPU ours {details['ours_cpu_s']:.2f}s bare {details['bare_cpu_s']:.2f}s; "
              f"load average ours {details['ours_load']}, bare {details['bare_load']} (2 cores)", flush=True)
    return results
