# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The loss of a site with pgBackRest: the lab's primary cluster archives and
backs up into two pgBackRest repositories, its own site's (repo1) and the
secondary site's (repo2). Losing repo1 (its directory moved away for the test,
put back afterwards) must leave a restore from repo2, pg_rpo_info naming repo1
unreachable, and a warm standby that is promoted with every row repo2 got.

The measured RTO (restore from scratch vs promotion) and RPO are printed
(pytest -s shows them)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import time
import typing as t
from pathlib import Path

import pytest

from .pg_fixtures import Pg, RowWriter, cleanup_databases, pg, unique  # noqa: F401  # pylint: disable=unused-import
from .test_pg_pitr import wait_archived

BACKUP = "resilience.dr.pg_backup"
RESTORE = "resilience.dr.pg_restore"
RPO = "resilience.dr.pg_rpo_info"
PG_CTL = "/usr/lib/postgresql/15/bin/pg_ctl"
HEARTBEAT_INTERVAL = 0.2


def stop_cluster(directory: Path) -> None:
    if (directory / "postmaster.pid").exists():
        subprocess.run(["runuser", "-u", "postgres", "--", PG_CTL, "-D", str(directory), "-m", "immediate", "-w", "stop"],
                       capture_output=True, check=False)


@pytest.fixture
def data_dirs(lab: dict[str, t.Any], unique: str) -> t.Iterator[t.Callable[[str], Path]]:  # noqa: F811
    """New data directories the postgres user can reach; their clusters are stopped and they are removed afterwards."""
    parent = Path(lab["lab_dir"]) / "test-restores"
    parent.mkdir(mode=0o755, exist_ok=True)
    made: list[Path] = []

    def new(name: str) -> Path:
        made.append(parent / f"{name}-{unique}")
        return made[-1]

    yield new
    for path in made:
        for directory in [path, *parent.glob(f"{path.name}.before-*")]:
            stop_cluster(directory)
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def site_loss(lab: dict[str, t.Any], pg: Pg) -> t.Iterator[t.Callable[[], Path]]:  # noqa: F811
    """Calling it loses the primary site's pgBackRest repository (repo1 of the primary cluster); the directory
    comes back afterwards, and the cluster's archiving catches up with it."""
    repo1 = Path(lab["sites"]["primary"]["postgresql"]["pgbackrest_repo"])
    away = repo1.with_name(repo1.name + ".lost")
    lost: list[bool] = []

    def lose() -> Path:
        os.rename(repo1, away)
        lost.append(True)
        return repo1

    yield lose
    if lost:
        if repo1.exists():  # whatever a command recreated meanwhile
            shutil.rmtree(repo1)
        os.rename(away, repo1)
        # While repo1 was away every archive_command failed; after three failures in a row PostgreSQL's archiver
        # may sleep up to a minute (its autowake interval) before it tries the backlog again.
        wait_archived(pg, "postgres", timeout=180)


def repo_paths(pg: Pg) -> list[str]:
    """repo1, repo2, ... paths of the primary cluster's pgBackRest configuration."""
    lines = Path(pg.facts["pgbackrest_config"]).read_text(encoding="utf-8").splitlines()
    return [line.split("=", 1)[1] for line in sorted(line for line in lines if line.startswith("repo") and "-path=" in line)]


def seed(pg: Pg, database: str, rows: int) -> None:
    pg.execute("postgres", f'CREATE DATABASE "{database}"')
    pg.execute(database, """
        CREATE TABLE orders (id bigserial PRIMARY KEY, customer text NOT NULL, amount numeric(12, 2) NOT NULL,
                             placed timestamptz NOT NULL DEFAULT clock_timestamp());
        CREATE TABLE heartbeat (n bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())""")
    pg.execute(database, "INSERT INTO orders (customer, amount) SELECT md5(i::text), mod(i, 9973) / 7.0 "
                         "FROM generate_series(1, %s) i", (rows,))


def table_checksums(pg: Pg, database: str, port: int | None = None) -> dict[str, str]:
    """The rows of every table but the heartbeat (sequences are WAL-logged ahead, so a recovered one differs)."""
    return {name: value for name, value in pg.content_checksum(database, port=port).items()
            if not name.startswith("sequence ") and name != "public.heartbeat"}


def report(name: str, values: dict[str, t.Any]) -> None:
    print(f"\nmeasured {name}: {json.dumps(values, sort_keys=True)}")


def test_lab_cluster_archives_into_one_repository_per_site(lab, pg: Pg):  # noqa: F811
    paths = repo_paths(pg)
    assert paths == [lab["sites"]["primary"]["postgresql"]["pgbackrest_repo"],
                     lab["sites"]["secondary"]["postgresql"]["pgbackrest_repo"]]
    for path in paths:
        assert (Path(path) / "archive" / pg.facts["stanza"] / "archive.info").exists()
        assert os.stat(path).st_mode & 0o077 == 0, f"{path} must be 0700"


def test_restore_from_repo2_after_losing_repo1(ansible, lab, pg: Pg, unique, cleanup_databases,  # noqa: F811
                                               data_dirs, site_loss, tmp_path):
    database = f"siteloss_{unique}"
    cleanup_databases.append(database)
    seed(pg, database, 20000)
    facts = pg.facts
    repository, component = tmp_path / "repository", f"cluster-{unique}"
    backup_args = {**pg.login, "repository": str(repository), "component": component, "method": "physical",
                   "stanza": facts["stanza"], "pgbackrest_config": facts["pgbackrest_config"]}
    check, backup = ansible.sequence([(BACKUP, backup_args, {"check": True}), (BACKUP, backup_args)])
    assert not check["failed"], check["msg"]
    assert check["pgbackrest_repos"] == [1, 2] and check["backup_id"] is None
    assert not backup["failed"], backup["msg"]
    assert backup["pgbackrest_repos"] == [1, 2]
    labels = {item["repo"]: item["label"] for item in backup["pgbackrest_backups"]}
    paths = repo_paths(pg)
    for repo, label in labels.items():
        assert (Path(paths[repo - 1]) / "backup" / facts["stanza"] / label / "backup.manifest").exists(), \
            f"the backup is not in repo{repo}"
    # Rows committed after the backup reach the restore through the WAL archive.
    pg.execute(database, "UPDATE orders SET amount = amount + 1 WHERE mod(id, 10) = 0")
    pg.execute(database, "INSERT INTO orders (customer, amount) SELECT 'late', 1 FROM generate_series(1, 500)")
    wait_archived(pg, database)
    expected = table_checksums(pg, database)

    site_loss()
    info = ansible.module(RPO, pg.login)
    assert not info["failed"], info["msg"]
    assert info["pgbackrest_stanza"] == facts["stanza"] and info["unreachable_repositories"] == [1]
    repos = {item["repo"]: item for item in info["repositories"]}
    assert repos[1]["unreachable"] is True and repos[1]["state"] == "missing" and repos[1]["newest_wal"] is None
    assert repos[2]["available"] is True and repos[2]["newest_wal"] and repos[2]["newest_wal_time"]
    assert repos[2]["newest_wal"] >= info["last_archived_wal"] and repos[2]["behind"] is False
    assert repos[2]["backups"] >= 1 and repos[2]["rpo_seconds"] is not None
    assert any("repo1" in warning for warning in info["warnings"])

    restore_dir = data_dirs("siteloss")
    port = lab["port_base"] + 7
    restore_args = {**pg.login, "repository": str(repository), "component": component, "method": "physical",
                    "data_dir": str(restore_dir), "port": port}
    dry = ansible.module(RESTORE, restore_args, check=True)
    assert not dry["failed"], dry["msg"]
    assert dry["changed"] is True and dry["pgbackrest_repo"] == 2 and dry["label"] == labels[2]
    assert not restore_dir.exists(), "check mode must not create the data directory"

    started = time.monotonic()
    restored = ansible.module(RESTORE, restore_args)
    elapsed = time.monotonic() - started
    assert not restored["failed"], restored["msg"]
    assert restored["changed"] is True and restored["pgbackrest_repo"] == 2 and restored["label"] == labels[2]
    assert table_checksums(pg, database, port=port) == expected, "the rows restored from repo2 differ"
    settings = (restore_dir / "postgresql.auto.conf").read_text(encoding="utf-8")
    restore_command = [line for line in settings.splitlines() if line.startswith("restore_command")]
    assert restore_command and "--repo" not in restore_command[-1], "archive-get must try every repository"
    report("restore from scratch (repo2)", {"rto_module_s": restored["duration_s"], "rto_task_s": round(elapsed, 2),
                                            "rows": pg.execute(database, "SELECT count(*) FROM orders", port=port)[0][0]})

    again, check_again, pinned = ansible.sequence([
        (RESTORE, restore_args), (RESTORE, restore_args, {"check": True}),
        (RESTORE, {**restore_args, "data_dir": str(data_dirs("pinned")), "pgbackrest_repo": 1}),
    ])
    assert not again["failed"], again["msg"]
    assert again["changed"] is False and again["pgbackrest_repo"] == 2
    assert check_again["changed"] is False
    assert pinned["failed"] and "repo1" in pinned["msg"] and "missing" in pinned["msg"]

    # While repo1 is lost, a backup into every repository is refused naming it; into repo2 alone it works.
    refused, survivor = ansible.sequence([(BACKUP, backup_args), (BACKUP, {**backup_args, "pgbackrest_repos": [2]})])
    assert refused["failed"] and "repo1" in refused["msg"] and "pgbackrest_repos" in refused["msg"]
    assert not survivor["failed"], survivor["msg"]
    assert survivor["pgbackrest_repos"] == [2]


def test_standby_is_promoted_with_the_rows_repo2_received(ansible, lab, pg: Pg, unique,  # noqa: F811
                                                          cleanup_databases, data_dirs, site_loss, tmp_path):
    database = f"standby_{unique}"
    cleanup_databases.append(database)
    seed(pg, database, 20000)
    facts = pg.facts
    repository, component = tmp_path / "repository", f"cluster-{unique}"
    backup = ansible.module(BACKUP, {**pg.login, "repository": str(repository), "component": component,
                                     "method": "physical", "stanza": facts["stanza"],
                                     "pgbackrest_config": facts["pgbackrest_config"]})
    assert not backup["failed"], backup["msg"]

    standby_dir = data_dirs("standby")
    port = lab["port_base"] + 8
    standby_args = {**pg.login, "repository": str(repository), "component": component, "method": "physical",
                    "data_dir": str(standby_dir), "port": port, "standby": True}
    dry = ansible.module(RESTORE, standby_args, check=True)
    assert not dry["failed"], dry["msg"]
    assert dry["changed"] is True and not standby_dir.exists()
    created, again, check_again = ansible.sequence([
        (RESTORE, standby_args), (RESTORE, standby_args), (RESTORE, standby_args, {"check": True}),
    ])
    assert not created["failed"], created["msg"]
    assert created["changed"] is True and created["action"] == "standby" and created["pgbackrest_repo"] == 1
    assert pg.execute("postgres", "SELECT pg_is_in_recovery()", port=port) == [(True,)]
    assert (standby_dir / "standby.signal").exists()
    assert not again["failed"], again["msg"]
    assert again["changed"] is False and again["action"] == "none"
    assert check_again["changed"] is False

    # The primary site's repository is lost; the heartbeat keeps committing while WAL reaches repo2 only.
    site_loss()
    repo2 = repo_paths(pg)[1]
    heartbeat = RowWriter(pg, database, "heartbeat", HEARTBEAT_INTERVAL)
    heartbeat.start()
    lost_at = None
    try:
        time.sleep(25)
        # The disaster: the primary stops archiving (its site is gone) and its last commits are not archived.
        heartbeat.halt.set()
        heartbeat.join(10)
        pg.execute("postgres", "ALTER SYSTEM SET archive_command = 'false'")
        pg.execute("postgres", "SELECT pg_reload_conf()")
        lost_at = pg.execute(database, "SELECT max(at) FROM heartbeat")[0][0]
        time.sleep(1)
        source_rows = pg.execute(database, "SELECT n, at FROM heartbeat ORDER BY n")
        orders = table_checksums(pg, database)

        promote_args = {key: value for key, value in standby_args.items() if key != "standby"}
        promote_args["promote"] = True
        dry_promote = ansible.module(RESTORE, promote_args, check=True)
        assert not dry_promote["failed"], dry_promote["msg"]
        assert dry_promote["changed"] is True and dry_promote["action"] == "promoted"
        assert pg.execute("postgres", "SELECT pg_is_in_recovery()", port=port) == [(True,)], "check mode promoted"

        started = time.monotonic()
        promoted = ansible.module(RESTORE, promote_args)
        elapsed = time.monotonic() - started
    finally:
        pg.execute("postgres", "ALTER SYSTEM RESET archive_command")
        pg.execute("postgres", "SELECT pg_reload_conf()")
    assert heartbeat.error is None, heartbeat.error
    assert not promoted["failed"], promoted["msg"]
    assert promoted["changed"] is True and promoted["action"] == "promoted" and promoted["recovered_to"]
    assert pg.execute("postgres", "SELECT pg_is_in_recovery()", port=port) == [(False,)]

    recovered = pg.execute(database, "SELECT n, at FROM heartbeat ORDER BY n", port=port)
    assert recovered == source_rows[:len(recovered)], "the promoted standby's heartbeat is not a prefix of the source's"
    assert len(recovered) >= 25 / HEARTBEAT_INTERVAL / 3, "rows written after the standby existed must be replayed"
    newest = recovered[-1][1]
    rpo = (lost_at - newest).total_seconds()
    assert 0 <= rpo <= 60, f"RPO {rpo} s: rows reached repo2 late"
    assert table_checksums(pg, database, port=port) == orders, "the orders of the promoted standby differ"
    assert glob.glob(os.path.join(repo2, "backup", facts["stanza"], "*F"))
    report("standby promotion (repo1 lost)", {
        "rto_module_s": promoted["duration_s"], "rto_task_s": round(elapsed, 2), "rpo_s": round(rpo, 2),
        "heartbeat_rows_source": len(source_rows), "heartbeat_rows_recovered": len(recovered),
        "archive_timeout": pg.execute("postgres", "SHOW archive_timeout")[0][0],
    })

    again, check_again = ansible.sequence([(RESTORE, promote_args), (RESTORE, promote_args, {"check": True})])
    assert not again["failed"], again["msg"]
    assert again["changed"] is False and again["action"] == "none"
    assert check_again["changed"] is False
    # A standby is no longer what data_dir holds: asking for one is refused, naming the promoted cluster.
    refused = ansible.module(RESTORE, standby_args)
    assert refused["failed"] and "promoted" in refused["msg"] and str(standby_dir) in refused["msg"]
