# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_restore before and around the server: which backup it takes, and how a refused RESTORE is reported."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import BackupNotFound, ConfigurationError, DrError
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget
from ansible_collections.resilience.dr.plugins.module_utils._redis.commands import locate_command
from ansible_collections.resilience.dr.plugins.module_utils._redis.keydump import KEYS_FILE
from ansible_collections.resilience.dr.plugins.module_utils._redis.protocol import stream_restore
from ansible_collections.resilience.dr.plugins.module_utils._redis.restore import describe_reply_error, redis_restore
from ansible_collections.resilience.dr.plugins.module_utils._redis.snapshot import RDB_FILE
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._redis.helpers import STREAM, FakeRedis, feed

COMPONENT = "sessions"
# Nothing listens on the discard port: a restore that got as far as the server would fail naming it.
NOWHERE = RedisTarget(host="127.0.0.1", port=9)


def test_restore_of_an_existing_key_names_it_and_says_what_to_do():
    fake = FakeRedis(lambda arguments: "BUSYKEY Target key name already exists." if arguments[1:2] == [b"b"] else None)
    target = RedisTarget(host="127.0.0.1", port=fake.port)
    answered, error = stream_restore(target, lambda sink: sink.write(STREAM))
    assert error == (2, "BUSYKEY Target key name already exists.")
    assert answered == 4  # the error stops the sending, not what was already sent
    with pytest.raises(DrError, match=r"Redis at 127.0.0.1:\d+: RESTORE of key b'b' in db0 failed: BUSYKEY .* "
                                      r"use replace or flush"):
        raise describe_reply_error(target, locate_command(lambda sink: feed(sink, STREAM, 1 << 20), 2, "d"),
                                   error[1])


@pytest.fixture
def repository(tmp_path):
    return Repository(LocalBackend(str(tmp_path / "repo")), compression_level=1, lock_timeout=0)


def backup(repository: Repository, method: str, kind: str = "redis") -> str:
    with repository.new_backup(COMPONENT, kind=kind, method=method) as session:
        session.add_bytes(RDB_FILE if method == "rdb" else KEYS_FILE, STREAM if method == "online" else b"REDIS0010")
    return session.backup_id


def test_a_backup_id_of_the_other_method_is_refused_before_the_server_is_contacted(repository):
    rdb = backup(repository, "rdb")
    with pytest.raises(ConfigurationError, match=rf"^backup {rdb} of component {COMPONENT} is a redis backup "
                                                 r"\(method rdb\), not a redis online backup; restore it with method rdb"):
        redis_restore(repository, NOWHERE, CommandRunner(), component=COMPONENT, backup_id=rdb, method="online")


def test_a_backup_of_another_kind_is_refused_naming_its_kind(repository):
    files = backup(repository, "tar", kind="files")
    with pytest.raises(ConfigurationError, match=rf"^backup {files} of component {COMPONENT} is a files backup "
                                                 r"\(method tar\), not a redis backup; give the backup_id of a redis"):
        redis_restore(repository, NOWHERE, CommandRunner(), component=COMPONENT, backup_id=files)


def test_without_a_backup_id_only_backups_of_the_method_count(repository):
    online = backup(repository, "online")
    with pytest.raises(BackupNotFound, match=rf"component {COMPONENT} has no complete redis rdb backup in .*; the "
                                             rf"newest usable one, {online}, is a redis backup taken with method online"):
        redis_restore(repository, NOWHERE, CommandRunner(), component=COMPONENT)
