# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_restore's output followed line by line: progress, the tables it has loaded, and its errors."""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.module_utils._postgres import dump_feed, dump_stream, logical_load, verify


def test_conninfo_quotes_unusual_database_names():
    assert logical_load.conninfo("orders") == "orders"
    assert logical_load.conninfo("it's a db") == "dbname='it\\'s a db'"


class _Stderr:
    """Stands in for a running pg_restore whose stderr grows between looks."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = list(pieces)
        self.written = b""

    def grow(self) -> None:
        self.written += self.pieces.pop(0)

    def read_stderr(self, offset: int = 0) -> bytes:
        return self.written[offset:]


def test_pg_restore_progress_is_followed_by_line_and_left_out_of_errors():
    command = _Stderr(
        b"pg_restore: creating TABLE \"public.orders\"\npg_restore: launching item 3371 TABLE DATA ord",
        b"ers\npg_restore: finished item 3371 TABLE DATA orders\n"
        b"pg_restore: error: could not execute query: ERROR:  role \"app\" does not exist\n"
        b"Command was: ALTER TABLE public.orders OWNER TO app;\n",
    )
    output = logical_load._Output()  # pylint: disable=protected-access
    command.grow()
    assert output.follow(command) == ['pg_restore: creating TABLE "public.orders"']
    command.grow()
    lines = output.follow(command)
    assert lines[:2] == ["pg_restore: launching item 3371 TABLE DATA orders", "pg_restore: finished item 3371 TABLE DATA orders"]
    assert output.follow(command) == []
    assert output.kept == ['pg_restore: error: could not execute query: ERROR:  role "app" does not exist',
                           "Command was: ALTER TABLE public.orders OWNER TO app;"]
    finished = logical_load._TableChecks.FINISHED  # pylint: disable=protected-access
    assert finished.fullmatch(lines[1]).groups() == ("3371", "orders")
    assert finished.fullmatch("pg_restore: finished item 12 TABLE DATA order lines").groups() == ("12", "order lines")
    assert not finished.fullmatch("pg_restore: finished item 12 SEQUENCE SET orders_id_seq")


def test_data_entries_name_each_table_data_item_and_skip_ambiguous_names():
    listing = "\n".join([
        ";",
        "; Archive created at 2026-11-23 04:00:00 UTC",
        "215; 1259 16390 TABLE public orders app",
        "3371; 0 16390 TABLE DATA public orders app",
        "3372; 0 16400 TABLE DATA sales order lines app",
        "3373; 0 16410 TABLE DATA a b c app",
        "3374; 0 16420 TABLE DATA archive orders app",
        "3375; 0 0 SEQUENCE SET public orders_id_seq app",
    ])
    tables = [("public", "orders"), ("sales", "order lines"), ("a b", "c"), ("a", "b c"), ("archive", "orders")]
    assert logical_load.data_entries(listing, tables) == {
        "3371": "public.orders", "3372": "sales.order lines", "3374": "archive.orders",
    }, "'a b c' may be table c of schema 'a b' or table 'b c' of schema a: read back, not guessed"


def test_fetched_data_file_is_hashed_as_the_backup_hashed_it(tmp_path):
    rows = b"1\tfirst\n2\tsecond\n"
    content = rows + b"\\.\n\n"
    measured = dump_stream.DataFileRows()
    with open(tmp_path / "1.dat", "wb") as handle:
        sink = dump_feed.HashingFile(handle, measured)
        for start in range(0, len(content), 5):  # pieces that split rows and the end-of-data line
            sink.write(memoryview(content)[start:start + 5])
    assert (tmp_path / "1.dat").read_bytes() == content, "pg_restore reads exactly what was hashed"
    digest = verify.RowsDigest()
    digest.write(rows)
    assert measured.result() == (2, digest.hexdigest())
