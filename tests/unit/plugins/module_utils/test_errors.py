# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import DrError, IntegrityError


def test_with_context_extends_a_copy_and_leaves_the_original_alone() -> None:
    original = IntegrityError("part 3 of backup b1 does not match its checksum", component="db", path="b1/part-3")

    extended = original.with_context("the temporary database could not be dropped")

    assert isinstance(extended, IntegrityError)
    assert extended.message == ("part 3 of backup b1 does not match its checksum; "
                                "the temporary database could not be dropped")
    assert str(extended) == extended.message
    assert extended.details == {"component": "db", "path": "b1/part-3"}
    assert original.message == "part 3 of backup b1 does not match its checksum"
    extended.details["extra"] = 1
    assert "extra" not in original.details


def test_with_context_is_raised_from_the_original() -> None:
    with pytest.raises(DrError) as caught:
        try:
            raise DrError("restore failed")
        except DrError as error:
            raise error.with_context("cleanup failed too") from error

    assert caught.value.message == "restore failed; cleanup failed too"
    assert caught.value.__cause__ is not None
    assert caught.value.__cause__.args == ("restore failed",)
