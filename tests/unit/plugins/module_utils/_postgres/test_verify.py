# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verification data of a logical backup and the comparison a restore makes with it."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import VerificationFailed
from ansible_collections.resilience.dr.plugins.module_utils._postgres.verify import RowsDigest, compare_table, sequence_behind


@pytest.mark.parametrize("recorded, restored, behind", [
    ({"last_value": 10, "increment": 1}, {"last_value": 10}, False),
    ({"last_value": 10, "increment": 1}, {"last_value": 9}, True),
    ({"last_value": -10, "increment": -1}, {"last_value": -12}, False),
    ({"last_value": None, "increment": 1}, {"last_value": None}, False),
    ({"last_value": 3, "increment": 1}, None, True),
])
def test_sequence_behind(recorded, restored, behind):
    assert sequence_behind(recorded, restored) is behind


def test_a_table_that_differs_is_named():
    compare_table("public.orders", {"rows": 3, "checksum": "abc"}, {"rows": 3, "checksum": "abc"}, "restore")
    compare_table("public.big", {"rows": 3, "checksum": None}, {"rows": 3, "checksum": None}, "restore")
    with pytest.raises(VerificationFailed, match="table public.orders has 2 rows after the restore, the backup recorded 3"):
        compare_table("public.orders", {"rows": 3, "checksum": "abc"}, {"rows": 2, "checksum": "abd"}, "restore")
    with pytest.raises(VerificationFailed, match="content of table public.orders differs"):
        compare_table("public.orders", {"rows": 3, "checksum": "abc"}, {"rows": 3, "checksum": "abd"}, "restore")


def test_rows_of_a_data_file_are_counted_and_hashed_as_a_copy_hands_them_over():
    rows = b"1\tx\\ny\n2\t\\N\n3\tz\n"
    from_file, from_copy = RowsDigest(), RowsDigest()
    buffer = bytearray(rows + b"\\.\n\n")
    from_file.add(buffer, len(rows))
    for line in rows.splitlines(keepends=True):
        from_copy.write(line)
    assert (from_file.rows, from_file.hexdigest()) == (from_copy.rows, from_copy.hexdigest()) == (3, from_copy.hexdigest())
    other = RowsDigest()
    other.write(rows.replace(b"z", b"Z"))
    assert other.rows == 3 and other.hexdigest() != from_copy.hexdigest()


def test_a_table_differing_only_in_a_generated_column_is_named():
    want = {"rows": 2, "checksum": "a" * 32, "row_checksum": "b" * 32}
    compare_table("public.t", want, {"rows": 2, "checksum": "a" * 32, "row_checksum": "b" * 32}, "restore")
    with pytest.raises(VerificationFailed, match="public.t differs .*row_checksum"):
        compare_table("public.t", want, {"rows": 2, "checksum": "a" * 32, "row_checksum": "c" * 32}, "restore")
