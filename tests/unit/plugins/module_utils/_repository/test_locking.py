# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import DrError, LockHeld, StaleLock
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.locking import ComponentLock, LockInfo
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, utc_now


@pytest.fixture
def backend(tmp_path):
    return LocalBackend(str(tmp_path))


def test_second_writer_waits_then_fails_naming_the_holder(backend):
    with ComponentLock(backend, "orders-db", "backup", timeout=10, backup_id="20261123T040000Z-aaaaaa"):
        started = time.monotonic()
        with pytest.raises(LockHeld) as failure:
            ComponentLock(backend, "orders-db", "prune", timeout=0.3).acquire()
        assert time.monotonic() - started >= 0.3
    message = str(failure.value)
    assert "component orders-db is locked by backup 20261123T040000Z-aaaaaa (pid" in message
    assert "gave up after waiting" in message and "lock_timeout" in message


def test_a_waiting_writer_gets_the_lock_when_the_holder_finishes(backend):
    holder = ComponentLock(backend, "orders-db", "backup", timeout=1).acquire()
    threading.Timer(0.3, holder.release).start()
    with ComponentLock(backend, "orders-db", "backup", timeout=5) as second:
        assert second.info.operation == "backup"


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def plant_lock(backend, pid: int, heartbeat_age: float = 0, host: str | None = None) -> None:
    lock = ComponentLock(backend, "orders-db", "backup", timeout=0, backup_id="20261123T040000Z-bbbbbb")
    info = lock.info
    info.pid = pid
    if host:
        info.host = host
    info.heartbeat_at = format_time(utc_now() - timedelta(seconds=heartbeat_age))
    backend.create_exclusive(lock.key, info.to_bytes())


def test_lock_of_a_dead_process_is_reported_stale_and_kept(backend):
    pid = dead_pid()
    plant_lock(backend, pid)
    with pytest.raises(StaleLock, match=rf"pid {pid} no longer runs on host .*break_stale_lock: true"):
        ComponentLock(backend, "orders-db", "backup", timeout=5).acquire()
    assert json.loads(backend.read_bytes("orders-db/lock.json"))["pid"] == pid


def test_lock_of_another_host_is_stale_only_after_its_heartbeat_stops(backend):
    plant_lock(backend, 1, heartbeat_age=10, host="other-host")
    with pytest.raises(LockHeld) as failure:
        ComponentLock(backend, "orders-db", "backup", timeout=0).acquire()
    assert not isinstance(failure.value, StaleLock)
    backend.delete(["orders-db/lock.json"])
    plant_lock(backend, 1, heartbeat_age=3600, host="other-host")
    with pytest.raises(StaleLock, match=r"its last heartbeat was 3\d{3}s ago"):
        ComponentLock(backend, "orders-db", "backup", timeout=0).acquire()


def test_break_stale_lock_takes_over_and_remembers_the_old_holder(backend):
    pid = dead_pid()
    plant_lock(backend, pid)
    with ComponentLock(backend, "orders-db", "backup", timeout=0, break_stale=True) as lock:
        assert lock.broken is not None and lock.broken.pid == pid
        assert LockInfo.from_bytes(backend.read_bytes("orders-db/lock.json")).lock_id == lock.info.lock_id
    assert backend.read_bytes("orders-db/lock.json") is None


def eventually(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_heartbeat_renews_and_notices_a_lost_lock(backend):
    lock = ComponentLock(backend, "orders-db", "backup", timeout=0, heartbeat_interval=0.05).acquire()
    first = backend.read_bytes("orders-db/lock.json")
    # Polled with a generous deadline: a loaded machine delays the heartbeat thread.
    assert eventually(lambda: backend.read_bytes("orders-db/lock.json") != first)
    backend.write_bytes("orders-db/lock.json", b"{}")  # somebody broke it
    assert eventually(lambda: lock.lost)
    lock.release()
    assert backend.read_bytes("orders-db/lock.json") == b"{}"  # never deletes a lock it no longer holds


def test_a_lock_file_never_appears_empty_or_half_written(backend):
    """A reader polling the lock path while it is taken and released again and again only ever sees whole locks."""
    seen: list[bytes] = []
    done = threading.Event()

    def read_in_a_loop() -> None:
        while not done.is_set():
            raw = backend.read_bytes("orders-db/lock.json")
            if raw is not None:
                seen.append(raw)

    reader = threading.Thread(target=read_in_a_loop)
    reader.start()
    try:
        for _round in range(400):
            ComponentLock(backend, "orders-db", "backup", timeout=0, heartbeat_interval=60).acquire().release()
    finally:
        done.set()
        reader.join()
    assert seen, "the reader never caught the lock held"
    assert all(LockInfo.from_bytes(raw) is not None for raw in seen)
    assert backend.list_children("orders-db") == []  # no temporary files left behind


def test_break_stale_lock_never_breaks_a_live_lock_being_taken(backend):
    """Operators racing a live holder with break_stale_lock: true wait for it; they never delete its lock."""
    stop = threading.Event()
    lost: list[bool] = []
    errors: list[BaseException] = []

    def hold_again_and_again() -> None:
        while not stop.is_set():
            try:
                lock = ComponentLock(backend, "orders-db", "backup", timeout=0, heartbeat_interval=60).acquire()
            except LockHeld:
                continue
            except DrError as error:  # reported by the assertion below
                errors.append(error)
                return
            lost.append(backend.read_bytes("orders-db/lock.json") != lock._payload)
            lock.release()

    holder = threading.Thread(target=hold_again_and_again)
    holder.start()
    broken = []
    try:
        for _round in range(400):
            try:
                with ComponentLock(backend, "orders-db", "prune", timeout=0, break_stale=True) as breaker:
                    broken.append(breaker.broken)
            except LockHeld as error:
                assert not isinstance(error, StaleLock), error
    finally:
        stop.set()
        holder.join()
    assert errors == []
    assert lost and not any(lost), f"{sum(lost)} of {len(lost)} live locks were deleted under their holder"
    assert broken == [None] * len(broken)
