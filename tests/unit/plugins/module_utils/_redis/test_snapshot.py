# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RDB snapshots: an RDB file is told from anything else by its header."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._redis.snapshot import check_rdb_header


def test_rdb_header_check():
    check_rdb_header(b"REDIS0010", "dump.rdb")
    with pytest.raises(IntegrityError, match="not an RDB file"):
        check_rdb_header(b"\x28\xb5\x2f\xfd", "dump.rdb")
