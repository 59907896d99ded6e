# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_backup against the lab's Redis 7 (secondary site), through ansible-playbook."""

from __future__ import annotations

import json

from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

from .redis_data import RedisServer, seeded, server  # noqa: F401 pylint: disable=unused-import

COMPONENT = "sessions-cache"
ACL_USER = "dr-backup-test"


def backups_in(path) -> list:
    return open_repository({"repository": str(path)}).list_backups(COMPONENT)


def test_rdb_backup_records_the_snapshot_and_what_to_verify(ansible, server, seeded, tmp_path):  # pylint: disable=redefined-outer-name
    args = {**server.options, "repository": str(tmp_path / "repository"), "component": COMPONENT,
            "compression_level": 1}
    saves_before = server.connect().info("persistence")["rdb_saves"]
    check, first, second = ansible.sequence([
        ("resilience.dr.redis_backup", args, {"check": True}),
        ("resilience.dr.redis_backup", args),
        ("resilience.dr.redis_backup", args),
    ])
    assert check["changed"] and not check["failed"] and check["backup_id"] is None, check.get("msg")
    assert check["databases"]["0"] == {"keys": 60_000, "expires": 6_000}
    assert first["changed"] and second["changed"] and first["backup_id"] != second["backup_id"]
    # Check mode took no snapshot and wrote nothing: two saves, two backups.
    assert server.connect().info("persistence")["rdb_saves"] == saves_before + 2
    entries = backups_in(tmp_path / "repository")
    assert [entry.backup_id for entry in entries] == [first["backup_id"], second["backup_id"]]

    assert first["databases"] == {"0": {"keys": 60_000, "expires": 6_000}, "1": {"keys": 30_000, "expires": 3_000},
                                  "5": {"keys": 10_000, "expires": 1_000}}
    assert {"data/dump.rdb", "aof/appendonly.aof.manifest"} <= set(first["files"])
    assert any(name.endswith(".base.rdb") for name in first["files"])
    manifest = entries[0].manifest
    info = server.connect().info("server")
    assert manifest.kind == "redis" and manifest.method == "rdb"
    assert manifest.source["run_id"] == info["run_id"] and manifest.source["redis_version"] == info["redis_version"]
    assert manifest.consistency_point["lastsave"] <= server.connect().lastsave().timestamp()
    assert first["consistency_point"] == manifest.consistency_point

    repository = open_repository({"repository": str(tmp_path / "repository")})
    assert repository.read_bytes(entries[0], "data/dump.rdb").startswith(b"REDIS")
    verification = repository.verification_data(entries[0])
    db0 = verification["databases"]["0"]
    assert db0["min_keys"] == 54_000 and db0["max_keys"] == 60_000
    # Sampled keys without a TTL, their digests recorded.
    assert 30 <= len(db0["samples"]) <= 100
    key = bytes.fromhex(next(iter(db0["samples"])))
    assert server.connect(0).exists(key) and server.connect(0).pttl(key) == -1


def test_backup_waits_for_a_save_already_running(ansible, server, seeded, tmp_path):  # pylint: disable=redefined-outer-name
    client = server.connect()
    # Slow every save down (microseconds per key) so one is surely running when the module starts.
    client.config_set("rdb-key-save-delay", 20)
    try:
        saves_before = client.info("persistence")["rdb_saves"]
        client.bgsave()
        assert client.info("persistence")["rdb_bgsave_in_progress"] == 1
        result = ansible.module("resilience.dr.redis_backup", {
            **server.options, "repository": str(tmp_path / "repository"), "component": COMPONENT,
            "compression_level": 1, "sample_keys": 0})
    finally:
        client.config_set("rdb-key-save-delay", 0)
    assert result["changed"] and not result["failed"], result.get("msg")
    state = client.info("persistence")
    # The running save finished, then the module's own one ran: two saves.
    assert state["rdb_saves"] == saves_before + 2
    assert result["consistency_point"]["lastsave"] == state["rdb_last_save_time"]


def test_acl_user_backs_up_online_and_connection_failures_are_named(ansible, server, seeded, tmp_path):  # pylint: disable=redefined-outer-name
    client = server.connect()
    client.acl_setuser(ACL_USER, enabled=True, passwords=["+acl-test-secret"], keys=["*"],
                       commands=["+@read", "+@keyspace", "+@connection", "+info", "+dump", "+pttl", "+scan",
                                 "+randomkey"])
    repository = str(tmp_path / "repository")
    try:
        base = {"login_host": "127.0.0.1", "login_port": server.port, "login_user": ACL_USER,
                "repository": repository, "component": COMPONENT, "method": "online", "compression_level": 1}
        online, wrong, refused, unreachable = ansible.sequence([
            ("resilience.dr.redis_backup", {**base, "login_password": "acl-test-secret"}),
            ("resilience.dr.redis_backup", {**base, "login_password": "not-the-password"}),
            ("resilience.dr.redis_backup", {**base, "login_password": "acl-test-secret", "method": "rdb"}),
            ("resilience.dr.redis_backup", {**base, "login_port": 9, "connect_timeout": 2}),
        ])
    finally:
        client.acl_deluser(ACL_USER)
    assert online["changed"] and not online["failed"], online.get("msg")
    assert online["databases"]["1"] == {"keys": 30_000, "expires": 3_000}
    assert wrong["failed"] and f"127.0.0.1:{server.port}" in wrong["msg"]
    assert "not-the-password" not in json.dumps(wrong) and "acl-test-secret" not in json.dumps(online)
    # The user may not run CONFIG, which an rdb backup needs to find the snapshot.
    assert refused["failed"] and "CONFIG" in refused["msg"] and "method online" in refused["msg"]
    assert unreachable["failed"] and "127.0.0.1:9" in unreachable["msg"]
    assert [entry.backup_id for entry in backups_in(repository)] == [online["backup_id"]]
    entry = backups_in(repository)[0]
    assert entry.manifest.method == "online" and entry.manifest.consistency_point["scan"] is True
