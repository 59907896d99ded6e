# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Level 2's RTO against the slowest component's bare restore, on the drill's data set.

    load     roles/lab/files/drill_data.py load (PostgreSQL, Redis, uploads of BENCH_DRILL_SIZE)
    backup   playbooks/backup.yml with the lab's plan, uploads independent of orders-db (one restore step)
    damage   the drill's faulty release in every store (drill_data.py bad-write), after the backup
    ours     playbooks/level2_application.yml through ansible-playbook; RTO and each component's restore
             time from its report.json (parallel_restores); the data must match the fingerprint taken
             after the backup
    bare     each component on its own, from equivalent bare artefacts made afterwards:
             pg_restore -j2 of a pg_dump -Fd -j2 into a new database, redis-cli --pipe of RESTORE commands
             (DUMP payloads with their TTLs) into another Redis database, zstd -d | tar -x into a new directory

Goal: level 2's RTO (from the playbook's start, its checks, previews, service stops and verifications
included) <= 1.15x the slowest bare restore, the other components restored beside it.

BENCH_DRILL_SIZE is the drill size (small, medium, large; default large: over 2 GiB of PostgreSQL, a
million Redis keys, over 2 GiB of uploads). level2_cpu_s and client_cpu_s are the client side's CPU
seconds (this process's children: ansible-playbook and its modules, or the bare tools). machine_cpu_s is
the whole machine's meanwhile, the servers and the WAL archiver included, split by program
(benchmarks/cpu_split.py). cpu_floor_s is the machine's CPU seconds over the cores, the least time the
work could take: for level 2's RTO (the playbook from its start to the last restore's verification), the
whole playbook, and the three bare restores side by side. A goal_s below level 2's RTO floor cannot be
met on this machine without taking work out of level 2.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
import typing as t
from pathlib import Path

import redis
import yaml

from benchmarks.common import ROOT, Comparison, cpu_seconds, lab_facts, rto_span, run_pipeline
from benchmarks.cpu_split import CpuSplit, cpu_split

GOAL = 1.15
BARE_DATABASE = "bench_drill_bare"
# The Redis database the bare restore fills: the lab's sessions live in database 0.
BARE_REDIS_DB = 1
DRILL_TOOL = ROOT / "roles" / "lab" / "files" / "drill_data.py"
PYTHON = ROOT / ".venv" / "bin" / "python"
# A bare restore: wall and client CPU seconds, the machine's CPU by program, the artefact's bytes.
Bare = t.Tuple[float, float, CpuSplit, int]


def _measured(function: t.Callable[[], t.Any]) -> tuple[float, float, CpuSplit, t.Any]:
    """Wall seconds, CPU seconds of the child processes, the whole machine's CPU by program, and the function's
    value."""
    cpu, started = cpu_seconds(resource.RUSAGE_CHILDREN), time.perf_counter()
    split, value = cpu_split(function)
    return time.perf_counter() - started, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu, split, value


def _drill_environment(site: dict[str, t.Any]) -> dict[str, str]:
    """How drill_data.py reaches the primary (playbooks/drill.yml gives it the same)."""
    postgresql, cache = site["postgresql"], site["redis"]
    return {**os.environ, "DRILL_PG_HOST": postgresql["host"], "DRILL_PG_PORT": str(postgresql["port"]),
            "DRILL_PG_USER": postgresql["user"], "DRILL_PG_DB": site["app"]["database"],
            "PGPASSFILE": postgresql["pgpass_file"], "DRILL_REDIS_HOST": cache["host"],
            "DRILL_REDIS_PORT": str(cache["port"]), "DRILL_REDIS_PASSWORD_FILE": cache["password_file"],
            "DRILL_UPLOADS": site["app"]["uploads"]}


def _drill_data(environment: dict[str, str], *arguments: str) -> t.Any:
    done = subprocess.run([str(PYTHON), str(DRILL_TOOL), *arguments], env=environment, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout)


def _independent_plan(work: Path) -> Path:
    """The lab's plan with no depends_on: orders-db, sessions and uploads form one restore step."""
    lab_dir = Path(os.environ.get("LAB_DIR", ROOT / ".lab"))
    document = yaml.safe_load((lab_dir / "dr_plan.yml").read_text())
    for component in document["dr_plan"]["components"]:
        component.pop("depends_on", None)
    path = work / "dr_plan.yml"
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        yaml.safe_dump(document, handle)
    return path


def _playbook(name: str, plan: Path, reports: Path, *extra: str) -> None:
    environment = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "DR_REPORT_DIR": str(reports),
                   "ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report",
                   "PATH": f"{PYTHON.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(PYTHON.parent / "ansible-playbook"), str(ROOT / "playbooks" / name), "-e", f"@{plan}", *extra],
                          cwd=ROOT, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stdout[-4000:]}")


def _pg_environment(site: dict[str, t.Any]) -> dict[str, str]:
    facts = site["postgresql"]
    return {**os.environ, "PGHOST": facts["host"], "PGPORT": str(facts["port"]), "PGUSER": facts["user"],
            "PGPASSFILE": facts["pgpass_file"]}


ADMIN = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c"]


def _kept_copies(site: dict[str, t.Any]) -> tuple[set[str], set[Path]]:
    """The databases and upload trees a restore keeps beside the live ones (keep_previous, on by default)."""
    database = site["app"]["database"]
    found = subprocess.run(["psql", "-X", "-At", "-d", "postgres", "-c",
                            f"SELECT datname FROM pg_database WHERE starts_with(datname, '{database}_before_')"],
                           env=_pg_environment(site), check=True, capture_output=True, text=True).stdout.split()
    uploads = Path(site["app"]["uploads"])
    return set(found), set(uploads.parent.glob(f"{uploads.name}.pre-restore-*"))


def _remove_kept_copies(site: dict[str, t.Any], before: tuple[set[str], set[Path]]) -> None:
    """Removes what level 2 kept since `before`, so that repeated runs do not fill the disk with 4 GB each."""
    databases, trees = _kept_copies(site)
    for name in sorted(databases - before[0]):
        subprocess.run([*ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], env=_pg_environment(site), check=True)
    for tree in sorted(trees - before[1]):
        shutil.rmtree(tree)


def _bare_postgresql(site: dict[str, t.Any], work: Path) -> Bare:
    """pg_dump -Fd -j2 (default compression), then the timed pg_restore -j2 into a new database."""
    environment = _pg_environment(site)
    dump = work / "pg_dump"
    subprocess.run(["pg_dump", "-Fd", "-j2", "-f", str(dump), site["app"]["database"]], env=environment, check=True)
    subprocess.run([*ADMIN, f'DROP DATABASE IF EXISTS "{BARE_DATABASE}" WITH (FORCE)'], env=environment, check=True)
    subprocess.run([*ADMIN, f'CREATE DATABASE "{BARE_DATABASE}"'], env=environment, check=True)
    try:
        wall, cpu, split, _value = _measured(lambda: subprocess.run(
            ["pg_restore", "-j2", "--no-owner", "-d", BARE_DATABASE, str(dump)], env=environment, check=True))
    finally:
        subprocess.run([*ADMIN, f'DROP DATABASE IF EXISTS "{BARE_DATABASE}" WITH (FORCE)'], env=environment, check=True)
    size = sum(path.stat().st_size for path in dump.rglob("*") if path.is_file())
    shutil.rmtree(dump)
    return wall, cpu, split, size


def _resp(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)


def _bare_redis(site: dict[str, t.Any], work: Path) -> Bare:
    """RESTORE commands (DUMP payload, remaining TTL) for every key, then the timed redis-cli --pipe into
    another database of the same server."""
    facts = site["redis"]
    password = Path(facts["password_file"]).read_text(encoding="utf-8").strip()
    client = redis.Redis(host=facts["host"], port=int(facts["port"]), password=password, socket_timeout=60)
    commands = work / "redis.resp"
    keys = 0
    with commands.open("wb") as out:
        batch: list[bytes] = []
        for key in client.scan_iter(count=10_000):
            batch.append(key)
            if len(batch) == 10_000:
                keys += _write_restores(client, batch, out)
                batch = []
        keys += _write_restores(client, batch, out)
    target = redis.Redis(host=facts["host"], port=int(facts["port"]), password=password, db=BARE_REDIS_DB)
    target.flushdb()
    environment = {**os.environ, "REDISCLI_AUTH": password}
    try:
        with commands.open("rb") as stdin:
            wall, cpu, split, _value = _measured(lambda: subprocess.run(
                ["redis-cli", "-h", facts["host"], "-p", str(facts["port"]), "-n", str(BARE_REDIS_DB), "--pipe"],
                stdin=stdin, env=environment, check=True, stdout=subprocess.DEVNULL))
        restored = target.dbsize()
    finally:
        target.flushdb()
    if restored != keys:
        raise RuntimeError(f"redis-cli --pipe restored {restored} keys of {keys}")
    return wall, cpu, split, commands.stat().st_size


def _write_restores(client: redis.Redis, keys: list[bytes], out: t.BinaryIO) -> int:
    pipeline = client.pipeline(transaction=False)
    for key in keys:
        pipeline.dump(key)
        pipeline.pttl(key)
    answers = pipeline.execute()
    for key, payload, ttl in zip(keys, answers[::2], answers[1::2]):
        out.write(_resp(b"RESTORE", key, str(max(ttl, 0)).encode(), payload, b"REPLACE"))
    return len(keys)


def _bare_files(site: dict[str, t.Any], work: Path) -> Bare:
    """tar | zstd of the uploads, then the timed zstd -d | tar -x into a new directory."""
    archive, target = work / "uploads.tar.zst", work / "uploads-bare"
    run_pipeline([["tar", "-C", site["app"]["uploads"], "-cf", "-", "."], ["zstd", "-q", "-T0", "-o", str(archive)]])
    target.mkdir()
    wall, cpu, split, _value = _measured(lambda: run_pipeline([["zstd", "-d", "-c", str(archive)], ["tar", "-x", "-C", str(target)]]))
    size = archive.stat().st_size
    shutil.rmtree(target)
    archive.unlink()
    return wall, cpu, split, size


def run() -> list[Comparison]:
    size = os.environ.get("BENCH_DRILL_SIZE", "large")
    site = lab_facts()["sites"]["primary"]
    environment = _drill_environment(site)
    work = Path(tempfile.mkdtemp(prefix="bench-drill-"))
    try:
        load_wall, load_cpu, _split, loaded = _measured(lambda: _drill_data(environment, "load", "--size", size))
        plan = _independent_plan(work)
        backup_wall, _cpu, _split, _value = _measured(lambda: _playbook("backup.yml", plan, work / "backup-reports"))
        before = _drill_data(environment, "fingerprint")
        _drill_data(environment, "bad-write")
        kept = _kept_copies(site)
        try:
            ours_wall, ours_cpu, ours_split, _value = _measured(lambda: _playbook(
                "level2_application.yml", plan, work / "reports", "-e", "confirm=yes"))
        finally:
            _remove_kept_copies(site, kept)
        report = json.loads(next((work / "reports").glob("*/report.json")).read_text())
        after = _drill_data(environment, "fingerprint")
        if after != before:
            raise RuntimeError(f"level 2 did not bring the data back: before {before}, after {after}")
        bare = {"orders-db": _bare_postgresql(site, work), "sessions": _bare_redis(site, work),
                "uploads": _bare_files(site, work)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    parallel = report["parallel_restores"]
    slowest = max(bare, key=lambda name: bare[name][0])
    data_bytes = loaded["postgresql_bytes"] + loaded["uploads_bytes"]
    cores = os.cpu_count() or 1
    bare_machine = sum(split.machine_s for _wall, _cpu, split, _size in bare.values())
    details = {
        "size": size, "loaded": loaded, "load_wall_s": round(load_wall, 1), "load_cpu_s": round(load_cpu, 1),
        "backup_wall_s": round(backup_wall, 1), "level2_wall_s": round(ours_wall, 1), "level2_cpu_s": round(ours_cpu, 1),
        "parallel_restores": parallel, "bare_slowest": slowest,
        "goal_s": round(GOAL * bare[slowest][0], 1), "cores": cores,
        # No side can end sooner than its CPU seconds over the cores. The RTO is the part of the playbook from its
        # start to the last restore's verification: the service starts and health checks after it are left out.
        "cpu_floor_s": {"level2 RTO": round(ours_split.machine_between(*rto_span(report)) / cores, 1),
                        "level2 playbook": round(ours_split.machine_s / cores, 1),
                        "bare restores side by side": round(bare_machine / cores, 1)},
        "level2_machine": ours_split.rounded(),
        "bare": {name: {"wall_s": round(wall, 2), "client_cpu_s": round(cpu, 2), **split.rounded(),
                        "artefact_bytes": artefact}
                 for name, (wall, cpu, split, artefact) in bare.items()},
    }
    results = [Comparison(
        name=f"level 2 RTO vs slowest bare restore ({slowest})", ours_s=report["rto_seconds"], bare_s=bare[slowest][0],
        size_bytes=data_bytes, target=f"<= {GOAL}x the slowest component's bare restore",
        passed=report["rto_seconds"] <= GOAL * bare[slowest][0], details=details)]
    for name, (wall, cpu, split, artefact) in bare.items():
        ours = parallel["restore_seconds"].get(name)
        if ours is None:
            continue
        results.append(Comparison(
            name=f"level 2 restore of {name} (beside the others) vs bare", ours_s=ours, bare_s=wall,
            size_bytes=artefact, target=f"<= {GOAL}x its bare restore", passed=ours <= GOAL * wall,
            details={"bare_client_cpu_s": round(cpu, 2), "bare_machine_cpu_s": round(split.machine_s, 1)}))
    return results
