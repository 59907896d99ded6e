# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""redis_restore against the lab's Redis 7 (secondary site), through ansible-playbook.

Both methods round-trip 100k keys of every type in several databases (TTLs
within a second); a damaged backup, or a forged one holding other commands
than SELECT and RESTORE, is refused before the server is touched;
a restore that fails verification puts the previous data files back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._redis.commands import parse_command
from ansible_collections.resilience.dr.plugins.module_utils._redis.keydump import HEADER, KEYS_FILE, LEGACY_KEYS_FILE, RECORD
from ansible_collections.resilience.dr.plugins.module_utils._redis.protocol import RawConnection
from ansible_collections.resilience.dr.plugins.module_utils._redis.restore import key_records
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

from .conftest import Ansible
from .redis_data import LAYOUT, RedisServer, assert_same_data, sample_names, seed, seeded, server, snapshot  # noqa: F401 pylint: disable=unused-import

COMPONENT = "sessions-cache"


@pytest.fixture(scope="module")
def identity():
    return x25519.Identity.generate()


@pytest.fixture(scope="module")
def backups(server: RedisServer, seeded, identity, tmp_path_factory):  # pylint: disable=redefined-outer-name
    """One rdb and one (encrypted) online backup of the seeded server, taken with redis_backup."""
    root = tmp_path_factory.mktemp("redis-backups")
    repository = {"repository": str(root / "repository"), "component": COMPONENT}
    ansible = Ansible(root / "ansible")
    rdb, online = ansible.sequence([
        ("resilience.dr.redis_backup", {**server.options, **repository, "compression_level": 1}),
        ("resilience.dr.redis_backup", {**server.options, **repository, "method": "online", "compression_level": 1,
                                        "encryption_recipients": [str(identity.to_public())]}),
    ])
    assert not rdb["failed"] and not online["failed"], (rdb.get("msg"), online.get("msg"))
    return {"repository": repository, "rdb": rdb["backup_id"], "online": online["backup_id"],
            "identity": {"encryption_identity": str(identity)}}


@pytest.fixture(autouse=True)
def intact(server: RedisServer, seeded):  # pylint: disable=redefined-outer-name
    """Every test starts from (and leaves) the seeded data set."""
    yield
    if {db: server.connect(db).dbsize() for db in LAYOUT} != seeded["counts"] or server.connect(3).dbsize():
        server.connect().flushall()
        seed(server.connect)


def counts(server: RedisServer) -> dict:  # pylint: disable=redefined-outer-name
    return {db: server.connect(db).dbsize() for db in (0, 1, 3, 5)}


def test_rdb_restore_brings_back_every_key(ansible, server, seeded, backups):  # pylint: disable=redefined-outer-name
    # The incident: db1 lost, a key overwritten.
    server.connect(1).flushdb()
    server.connect(0).set(b"k:0:41", b"garbage")
    broken = counts(server)
    args = {**server.options, **backups["repository"], **server.commands}
    run_id = server.run_id()

    check = ansible.module("resilience.dr.redis_restore", args, check=True, diff=True)
    assert check["changed"] and not check["failed"], check.get("msg")
    assert check["backup_id"] == backups["rdb"]
    assert check["executed_commands"] == []
    assert check["diff"]["before"]["databases"]["0"]["keys"] == 60_000
    assert "1" not in check["diff"]["before"]["databases"]
    assert check["diff"]["after"]["databases"]["1"]["keys"] == 30_000
    assert counts(server) == broken and server.run_id() == run_id

    restored, again, check_again = ansible.sequence([
        ("resilience.dr.redis_restore", args),
        ("resilience.dr.redis_restore", args),
        ("resilience.dr.redis_restore", args, {"check": True}),
    ])
    assert restored["changed"] and restored["verified"], restored.get("msg")
    assert restored["backup_id"] == backups["rdb"]
    assert restored["databases"]["1"] == {"keys": 30_000, "expires": 3_000}
    assert len(restored["executed_commands"]) == 2
    assert not again["changed"] and not again["failed"] and again["executed_commands"] == []
    assert "already holds" in again["msg"]
    assert not check_again["changed"] and not check_again["failed"]
    assert_same_data(seeded, snapshot(server.connect, sample_names()))
    assert server.run_id() != run_id
    # Nothing left beside the data files, and Redis keeps writing its AOF.
    assert sorted(name for name in os.listdir(server.data_dir) if name.startswith(".dr-")) == []
    server.connect(3).set("after-restore", "1")
    assert server.connect(3).get("after-restore") == b"1"
    server.connect(3).delete("after-restore")


def test_online_restore_refuses_a_non_empty_server_then_flushes_and_restores(ansible, server, seeded, backups):  # pylint: disable=redefined-outer-name
    server.connect(0).delete(*[f"k:0:{number}" for number in range(1, 500)])
    server.connect(3).set("stray", "x")
    broken = counts(server)
    args = {**server.options, **backups["repository"], **backups["identity"], "method": "online"}

    refused, check = ansible.sequence([
        ("resilience.dr.redis_restore", args),
        ("resilience.dr.redis_restore", {**args, "flush": True}, {"check": True, "diff": True}),
    ])
    assert refused["failed"] and "is not empty" in refused["msg"] and "flush: true" in refused["msg"]
    assert f"127.0.0.1:{server.port}" in refused["msg"]
    assert check["changed"] and not check["failed"] and check["backup_id"] == backups["online"]
    assert counts(server) == broken

    restored, again, check_again = ansible.sequence([
        ("resilience.dr.redis_restore", {**args, "flush": True}),
        ("resilience.dr.redis_restore", {**args, "flush": True}),
        ("resilience.dr.redis_restore", {**args, "flush": True}, {"check": True}),
    ])
    assert restored["changed"] and restored["verified"], restored.get("msg")
    assert restored["restored_keys"] == {"0": 60_000, "1": 30_000, "5": 10_000}
    assert not again["changed"] and not again["failed"], again.get("drift")
    assert not check_again["changed"] and not check_again["failed"]
    assert server.connect(3).dbsize() == 0
    assert_same_data(seeded, snapshot(server.connect, sample_names()))


def test_online_restore_with_replace_overwrites_and_keeps_other_keys(ansible, server, seeded, backups):  # pylint: disable=redefined-outer-name
    server.connect(0).set(b"k:0:6", b"changed")
    server.connect(0).delete(b"k:0:7")
    server.connect(3).set("kept", "yes")
    args = {**server.options, **backups["repository"], **backups["identity"], "method": "online", "replace": True}
    restored, again = ansible.sequence([("resilience.dr.redis_restore", args), ("resilience.dr.redis_restore", args)])
    assert restored["changed"] and restored["verified"], restored.get("msg")
    # Every key of the dump now holds its value and expiry: nothing to do, whatever other keys exist.
    assert not again["changed"] and not again["failed"], again.get("msg")
    assert server.connect(3).get("kept") == b"yes"
    assert_same_data(seeded, snapshot(server.connect, sample_names()))

    # A change no sample can see (keys with a TTL are never sampled) is still found and undone.
    client = server.connect(1)
    drifted_key = next(key for key in client.scan_iter(count=1000) if client.pttl(key) > 0)
    client.persist(drifted_key)
    redone, settled = ansible.sequence([("resilience.dr.redis_restore", args), ("resilience.dr.redis_restore", args)])
    assert redone["changed"] and redone["verified"], redone.get("msg")
    assert any(repr(drifted_key) in line and "expiry" in line for line in redone["drift"]), redone["drift"]
    assert client.pttl(drifted_key) > 0
    assert not settled["changed"], settled.get("drift")
    server.connect(3).delete("kept")


def corrupt(repository: Path, backup_id: str, name: str) -> None:
    path = repository / COMPONENT / backup_id / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def test_restore_refuses_a_damaged_backup_and_leaves_the_server_alone(ansible, server, backups, tmp_path):  # pylint: disable=redefined-outer-name
    copy = tmp_path / "repository"
    shutil.copytree(backups["repository"]["repository"], copy)
    corrupt(copy, backups["rdb"], "data/dump.rdb.zst")
    corrupt(copy, backups["online"], "data/keys.resp.zst.age")
    server.connect(3).set("only-here", "1")
    before = counts(server)
    run_id = server.run_id()
    args = {**server.options, "repository": str(copy), "component": COMPONENT}

    rdb, online, missing = ansible.sequence([
        ("resilience.dr.redis_restore", {**args, **server.commands, "backup_id": backups["rdb"]}),
        ("resilience.dr.redis_restore", {**args, **backups["identity"], "method": "online", "flush": True}),
        ("resilience.dr.redis_restore", {**args, **server.commands, "backup_id": "20200101T000000Z-abcdef"}),
    ])
    assert missing["failed"] and "20200101T000000Z-abcdef" in missing["msg"] and COMPONENT in missing["msg"]
    assert rdb["failed"] and backups["rdb"] in rdb["msg"] and "data/dump.rdb" in rdb["msg"], rdb["msg"]
    assert "SHA-256" in rdb["msg"]
    assert rdb["executed_commands"] == []
    assert online["failed"] and backups["online"] in online["msg"] and "data/keys.resp" in online["msg"]
    assert "damaged" in online["msg"]
    assert server.run_id() == run_id and counts(server) == before
    assert server.connect(3).get("only-here") == b"1"
    assert not [name for name in os.listdir(server.data_dir) if name.startswith(".dr-")]
    server.connect(3).delete("only-here")


def test_rdb_restore_failing_verification_puts_the_previous_files_back(ansible, server, tmp_path):  # pylint: disable=redefined-outer-name
    # A snapshot whose recorded key counts disagree with its content: Redis
    # itself cannot produce such a backup, so the test writes it with the
    # repository library (the snapshot file is real).
    client = server.connect()
    client.bgsave()
    while client.info("persistence")["rdb_bgsave_in_progress"]:
        pass
    repository = open_repository({"repository": str(tmp_path / "repository"), "compression_level": 1})
    with repository.new_backup(COMPONENT, kind="redis", method="rdb") as backup:
        backup.add_file("data/dump.rdb", os.path.join(server.data_dir, "dump.rdb"))
        backup.verification = {"databases": {"0": {"keys": 60_005, "expires": 0, "min_keys": 60_005,
                                                   "max_keys": 60_005, "samples": {}}}}
        backup.consistency_point = {"time": backup.manifest.started_at}
    server.connect(3).set("previous-data", "1")
    run_id = server.run_id()

    failed = ansible.module("resilience.dr.redis_restore", {
        **server.options, **server.commands, "repository": str(tmp_path / "repository"), "component": COMPONENT,
    })
    assert failed["failed"]
    assert "db0 holds 60000 keys, the backup recorded 60005" in failed["msg"]
    assert "previous data files are back in place" in failed["msg"]
    assert len(failed["executed_commands"]) == 4  # stop, start, stop, start
    assert server.run_id() != run_id
    assert server.connect(3).get("previous-data") == b"1"
    assert not [name for name in os.listdir(server.data_dir) if name.startswith(".dr-")]
    server.connect(3).delete("previous-data")


def test_rdb_restore_of_a_server_that_is_down_needs_and_uses_data_dir(ansible, server, seeded, backups):  # pylint: disable=redefined-outer-name
    server.connect(3).set("written-before-the-crash", "1")
    subprocess.run([server.ctl, "stop"], check=True, capture_output=True)
    try:
        args = {**server.options, **backups["repository"], **server.commands}
        unknown, restored = ansible.sequence([
            ("resilience.dr.redis_restore", args),
            ("resilience.dr.redis_restore", {**args, "data_dir": server.data_dir}),
        ])
    finally:
        subprocess.run([server.ctl, "start"], check=True, capture_output=True)
    assert unknown["failed"] and "give data_dir" in unknown["msg"] and unknown["executed_commands"] == []
    assert restored["changed"] and restored["verified"] and not restored["server_was_running"], restored.get("msg")
    assert server.connect(3).dbsize() == 0
    assert_same_data(seeded, snapshot(server.connect, sample_names()))


def test_online_restore_reads_backups_in_the_first_key_dump_format(ansible, server, seeded, backups,
                                                                   tmp_path):  # pylint: disable=redefined-outer-name
    # Backups taken before the key dump became RESTORE commands hold data/keys.bin
    # (records); the test writes one from the same keys with the repository library.
    source = open_repository({**backups["repository"], **backups["identity"]})
    entry = source.find(COMPONENT, backups["online"])
    data = bytearray(HEADER)
    counts: dict[str, int] = {}
    with key_records(source, entry) as records:
        for db, key, payload, expire_at in records:
            data += RECORD.pack(db, len(key), len(payload), expire_at) + key + payload
            counts[str(db)] = counts.get(str(db), 0) + 1
    repository = open_repository({"repository": str(tmp_path / "repository"), "compression_level": 1})
    with repository.new_backup(COMPONENT, kind="redis", method="online") as backup:
        backup.add_bytes(LEGACY_KEYS_FILE, bytes(data))
        backup.verification = source.verification_data(entry)
        backup.consistency_point = entry.manifest.consistency_point
        backup.extra = {"keys": counts}
    server.connect(0).delete(*[f"k:0:{number}" for number in range(1, 500)])
    args = {**server.options, "repository": str(tmp_path / "repository"), "component": COMPONENT, "method": "online"}

    restored, replaced = ansible.sequence([
        ("resilience.dr.redis_restore", {**args, "flush": True}),
        ("resilience.dr.redis_restore", {**args, "replace": True}),
    ])
    assert restored["changed"] and restored["verified"], restored.get("msg")
    assert restored["restored_keys"] == {"0": 60_000, "1": 30_000, "5": 10_000}
    # Compared key by key against the old format too: nothing left to do.
    assert not replaced["changed"] and not replaced["failed"], replaced.get("drift")
    assert "already holds every key" in replaced["msg"]
    assert_same_data(seeded, snapshot(server.connect, sample_names()))


def test_a_forged_online_backup_is_refused_naming_the_command_and_the_server_is_untouched(
        ansible, server, backups, tmp_path):  # pylint: disable=redefined-outer-name
    # Someone who can write to the repository slips CONFIG SET among the keys of a real dump: the backups are
    # encrypted to a public key, so anyone can write one. The test builds it with the repository library.
    source = open_repository({**backups["repository"], **backups["identity"]})
    entry = source.find(COMPONENT, backups["online"])
    stream = source.read_bytes(entry, KEYS_FILE)
    position = 0
    for _command in range(1001):  # SELECT 0 and 1000 keys
        position, _head, arguments = parse_command(stream, position, "dump")
    forged_key = arguments[1]
    evil = RawConnection.pack([[b"CONFIG", b"SET", b"dir", b"/tmp"]])
    repository = open_repository({"repository": str(tmp_path / "repository"), "compression_level": 1})
    with repository.new_backup(COMPONENT, kind="redis", method="online") as backup:
        backup.add_bytes(KEYS_FILE, stream[:position] + evil + stream[position:])
        backup.verification = source.verification_data(entry)
        backup.consistency_point = entry.manifest.consistency_point
        backup.extra = dict(entry.manifest.extra)
    server.connect(3).set("only-here", "1")
    before = counts(server)
    data_dir = server.connect().config_get("dir")["dir"]
    args = {**server.options, "repository": str(tmp_path / "repository"), "component": COMPONENT, "method": "online"}

    flushed, replaced = ansible.sequence([
        ("resilience.dr.redis_restore", {**args, "flush": True}),
        ("resilience.dr.redis_restore", {**args, "replace": True}),
    ])
    for result in (flushed, replaced):
        assert result["failed"], result
        assert f"backup {backup.backup_id} of component {COMPONENT}: file data/keys.resp" in result["msg"]
        assert f"command 1002 (after key {forged_key!r} of db0) is `CONFIG SET dir /tmp`" in result["msg"]
        assert "nothing was sent to the server" in result["msg"]
    assert server.connect().config_get("dir")["dir"] == data_dir
    assert counts(server) == before and server.connect(3).get("only-here") == b"1"
    server.connect(3).delete("only-here")
