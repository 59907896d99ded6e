# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logical backup's pg_dump command and the checks of its options."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._postgres import logical_backup


def test_pg_dump_gives_up_on_a_locked_table_after_lock_wait_timeout():
    argv = logical_backup.dump_argv("/usr/bin/pg_dump", "/tmp/work/data", "00000003-1", jobs=4, lock_wait_timeout=300)
    assert "--lock-wait-timeout=300s" in argv
    assert argv[0] == "/usr/bin/pg_dump" and argv[-1] == "--file=/tmp/work/data"
    assert {"--format=directory", "--jobs=4", "--compress=0", "--snapshot=00000003-1"} <= set(argv)


def test_pg_dump_waits_for_locks_without_limit_at_lock_wait_timeout_zero():
    argv = logical_backup.dump_argv("pg_dump", "/tmp/work/data", "00000003-1", jobs=1, lock_wait_timeout=0)
    assert not [argument for argument in argv if argument.startswith("--lock-wait-timeout")]


def test_a_negative_lock_wait_timeout_is_refused_before_connecting():
    with pytest.raises(ConfigurationError, match="lock_wait_timeout"):
        logical_backup.logical_backup(None, None, component="orders-db", database="orders", lock_wait_timeout=-1)
