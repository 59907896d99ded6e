# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of a logical restore against the lab's PostgreSQL 15: each table's
rows are hashed on their way to pg_restore and counted in the restored
database, and a table whose rows, content or presence differ from what the
backup recorded refuses the restore, naming the table, with the live database
untouched."""

from __future__ import annotations

import copy
import typing as t

import pytest

from .pg_fixtures import Pg, cleanup_databases, pg, unique  # noqa: F401  # pylint: disable=unused-import

from ansible_collections.resilience.dr.plugins.module_utils._errors import RepositoryError, VerificationFailed
from ansible_collections.resilience.dr.plugins.module_utils._postgres import dump_feed, logical_load
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import ConnectionParams
from ansible_collections.resilience.dr.plugins.module_utils._postgres.logical_restore import logical_restore
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository


def _row_changed(tables: dict[str, t.Any]) -> None:
    tables["public.orders"]["checksum"] = "0" * len(tables["public.orders"]["checksum"])


def _row_missing(tables: dict[str, t.Any]) -> None:
    tables["public.orders"]["rows"] += 1


def _table_missing(tables: dict[str, t.Any]) -> None:
    tables["public.refunds"] = {"rows": 3, "checksum": None}


@pytest.fixture
def backed_up(ansible, pg: Pg, unique, cleanup_databases, tmp_path) -> dict[str, t.Any]:
    source, live = f"rk_{unique}", f"rk_{unique}_live"
    cleanup_databases.extend([source, live])
    for database in (source, live):
        pg.execute("postgres", f'CREATE DATABASE "{database}"')
    pg.execute(source, "CREATE TABLE orders (id int PRIMARY KEY, note text); "
                       "INSERT INTO orders SELECT i, md5(i::text) FROM generate_series(1, 20000) i; "
                       "CREATE TABLE customers AS SELECT i AS id, 'customer ' || i AS name FROM generate_series(1, 500) i")
    pg.execute(live, "CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders VALUES (1, 'live')")
    repository, component = tmp_path / "repository", f"rk-{unique}"
    backup = ansible.module("resilience.dr.pg_backup", {**pg.login, "repository": str(repository), "component": component,
                                                        "db": source})
    assert not backup["failed"], backup["msg"]
    return {"repository": repository, "component": component, "live": live, "backup_id": backup["backup_id"],
            "params": ConnectionParams.from_params(pg.login)}


def _restore(backed_up: dict[str, t.Any], monkeypatch: pytest.MonkeyPatch, fault: t.Callable[[dict[str, t.Any]], None] | None,
             jobs: int) -> dict[str, t.Any]:
    repository = open_repository({"repository": str(backed_up["repository"])})
    if fault is not None:
        recorded = repository.verification_data
        altered = {}

        def with_fault(entry: t.Any) -> dict[str, t.Any]:
            if not altered:
                altered.update(copy.deepcopy(recorded(entry)))
                fault(altered["tables"])
            return altered

        monkeypatch.setattr(repository, "verification_data", with_fault)
    return logical_restore(repository, backed_up["params"], component=backed_up["component"], target_db=backed_up["live"],
                           clean=True, keep_previous=False, jobs=jobs, restore_globals=False)


def _feeding_every_data_file(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Feeds even these small data files through FIFOs; the names fed are collected in the list returned."""
    fed: list[str] = []
    start = dump_feed.DataFeeds.start

    def recording(feeds: dump_feed.DataFeeds, work: str, files: t.Iterable[tuple[str, str]]) -> None:
        files = list(files)
        fed.extend(name for name, _dump_id in files)
        start(feeds, work, files)

    monkeypatch.setattr(logical_load, "FEED_MIN_BYTES", 0)
    monkeypatch.setattr(dump_feed.DataFeeds, "start", recording)
    return fed


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("fed", [False, True], ids=["written to disk first", "fed through FIFOs"])
def test_every_table_is_checked_by_the_rows_loaded_and_its_restored_row_count(backed_up, pg: Pg, monkeypatch, jobs, fed):
    names = _feeding_every_data_file(monkeypatch) if fed else []

    result = _restore(backed_up, monkeypatch, None, jobs)

    assert len(names) == (2 if fed else 0)
    assert result["verified"]["tables"] == 2 and result["verified"]["rows"] == 20500
    assert result["verified"]["checked_as_loaded"] == 2, "both tables are checked by the digest of the rows loaded"
    assert pg.execute(backed_up["live"], "SELECT count(*), max(id) FROM orders") == [(20000, 20000)]


def test_a_damaged_file_fed_to_pg_restore_is_refused_naming_it(backed_up, pg: Pg, monkeypatch):
    names = _feeding_every_data_file(monkeypatch)
    live = backed_up["live"]
    before = pg.execute(live, "SELECT id, note FROM orders ORDER BY id")
    entry = open_repository({"repository": str(backed_up["repository"])}).find(backed_up["component"], backed_up["backup_id"])
    largest = max((record for record in entry.manifest.files if record.name.startswith("data/")),
                  key=lambda record: record.size)
    stored = backed_up["repository"] / backed_up["component"] / entry.backup_id / largest.path
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))

    with pytest.raises(RepositoryError) as refused:
        _restore(backed_up, monkeypatch, None, 2)

    assert largest.name in names, "the damaged file was fed, not written to disk first"
    assert largest.path in refused.value.message and entry.backup_id in refused.value.message
    assert pg.execute(live, "SELECT id, note FROM orders ORDER BY id") == before == [(1, "live")]
    assert pg.databases(f"{live}_") == [], "the half-restored database is dropped"


@pytest.mark.parametrize(("fault", "expected"), [
    (_row_changed, "the content of table public.orders differs from the backup"),
    (_row_missing, "table public.orders has 20000 rows after the restore, the backup recorded 20001"),
    (_table_missing, "table public.refunds of the backup is missing after the restore"),
], ids=["row changed", "row missing", "table missing"])
def test_a_restore_that_differs_from_the_backup_is_refused_naming_the_table(backed_up, pg: Pg, monkeypatch, fault, expected):
    live = backed_up["live"]
    before = pg.execute(live, "SELECT id, note FROM orders ORDER BY id")

    with pytest.raises(VerificationFailed) as refused:
        _restore(backed_up, monkeypatch, fault, 2)

    assert expected in refused.value.message
    assert pg.execute(live, "SELECT id, note FROM orders ORDER BY id") == before == [(1, "live")]
    assert pg.databases(f"{live}_") == [], "the half-restored database is dropped"
