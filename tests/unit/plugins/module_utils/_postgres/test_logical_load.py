# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_restore's output followed line by line: progress, the tables it has loaded, and its errors."""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.module_utils._postgres import logical_load


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
    assert finished.fullmatch(lines[1]).group(1) == "orders"
    assert finished.fullmatch("pg_restore: finished item 12 TABLE DATA order lines").group(1) == "order lines"
    assert not finished.fullmatch("pg_restore: finished item 12 SEQUENCE SET orders_id_seq")
