# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore test sandboxes: a private directory with a marker, removed only when the marker is there; the
settings that keep a sandbox server away from the network and from the WAL archive."""

from __future__ import annotations

import os
import re
import socket
import stat
from datetime import datetime, timezone

import pytest

from ansible_collections.resilience.dr.plugins.module_utils import _sandbox
from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DependencyMissing


def test_a_sandbox_directory_is_private_and_marked(tmp_path):
    path = _sandbox.make_directory(str(tmp_path), None)
    assert os.path.basename(path).startswith(_sandbox.PREFIX)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(path, _sandbox.MARKER)).st_mode) == 0o600


def test_a_directory_sandbox_has_a_data_directory_to_come_and_a_free_port(tmp_path):
    sandbox = _sandbox.create(CommandRunner(), kind="directory", base_dir=str(tmp_path), os_user=None, port=None,
                              pg_bin_dir=None, redis_server=None, password=None, started=True, start_timeout=5)
    assert sandbox.data_dir == os.path.join(sandbox.path, "data") and not os.path.exists(sandbox.data_dir)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", sandbox.port))  # nothing listens there


def test_remove_deletes_a_sandbox_and_then_has_nothing_to_do(tmp_path):
    runner = CommandRunner()
    path = _sandbox.make_directory(str(tmp_path), None)
    os.makedirs(os.path.join(path, "data", "deep"))
    assert _sandbox.remove(runner, path)["changed"] is True
    assert not os.path.exists(path)
    assert _sandbox.remove(runner, path)["changed"] is False


def test_remove_in_check_mode_keeps_the_sandbox(tmp_path):
    path = _sandbox.make_directory(str(tmp_path), None)
    assert _sandbox.remove(CommandRunner(), path, check_mode=True)["changed"] is True
    assert os.path.isdir(path)


@pytest.mark.parametrize("make", ["plain", "symlink", "file"])
def test_remove_refuses_anything_but_a_sandbox_and_touches_nothing(tmp_path, make):
    target = tmp_path / "production"
    target.mkdir()
    (target / "orders.csv").write_text("rows")
    if make == "symlink":
        sandbox = _sandbox.make_directory(str(tmp_path), None)
        link = tmp_path / "link"
        link.symlink_to(sandbox)
        path = str(link)
    elif make == "file":
        path = str(target / "orders.csv")
    else:
        path = str(target)
    with pytest.raises(ConfigurationError, match="is not a restore test sandbox"):
        _sandbox.remove(CommandRunner(), path)
    assert (target / "orders.csv").read_text() == "rows"


def test_a_failed_start_leaves_no_sandbox_behind(tmp_path):
    with pytest.raises(DependencyMissing, match="redis-server"):
        _sandbox.create(CommandRunner(), kind="redis", base_dir=str(tmp_path), os_user=None, port=None,
                        pg_bin_dir=None, redis_server="/nonexistent/redis-server", password="x", started=True,
                        start_timeout=1)
    assert not list(tmp_path.iterdir())


def test_a_missing_base_directory_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="base_dir .*nowhere is not a directory"):
        _sandbox.make_directory(str(tmp_path / "nowhere"), None)


def test_the_sandbox_cluster_listens_on_no_network_and_archives_nothing():
    settings = _sandbox._pg_settings(6543, "/var/tmp/resilience-dr-sandbox-x")
    assert "listen_addresses = ''" in settings and "archive_mode = off" in settings
    assert "unix_socket_directories = '/var/tmp/resilience-dr-sandbox-x'" in settings and "port = 6543" in settings


def test_the_sandbox_redis_binds_loopback_saves_nothing_and_wants_the_password():
    config = _sandbox._redis_config("/var/tmp/s", 7000, "one-time")
    lines = config.splitlines()
    assert "bind 127.0.0.1" in lines and 'save ""' in lines and "appendonly no" in lines
    assert "requirepass one-time" in lines and "port 7000" in lines and "dir /var/tmp/s" in lines


@pytest.mark.skipif(os.geteuid() != 0, reason="making a sandbox for another user needs root")
def test_a_base_directory_the_sandbox_user_cannot_enter_is_named(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    # pytest's own directories are private too: the first one nobody may not enter is named.
    with pytest.raises(ConfigurationError, match=f"nobody may not enter /.*, so it cannot reach a sandbox in {private}"):
        _sandbox.make_directory(str(private), "nobody")
    assert not list(private.iterdir())


def test_a_scratch_database_name_is_marked_dated_and_fits_postgresql():
    moment = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
    name = _sandbox.database_name("shopfront", moment)
    assert re.fullmatch(r"shopfront_restore_test_20261123T040000Z_[0-9a-f]{6}", name)
    long = _sandbox.database_name("x" * 80, moment)
    assert len(long) == 63 and long.startswith("xxx") and "_restore_test_20261123T040000Z_" in long


def test_only_a_marked_database_is_ever_dropped():
    with pytest.raises(ConfigurationError, match="shopfront is not a restore test database"):
        _sandbox.drop_database(connection=None, name="shopfront", where="db1:5432")
