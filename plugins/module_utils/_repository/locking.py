# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One writer per component: a lock object in the repository.

The lock (`<component>/lock.json`) names its holder: operation, backup id,
host, pid, user, when it was taken and its last heartbeat, which a thread
renews while the holder works. Another writer waits up to lock_timeout, then
fails naming the holder. A lock whose holder is gone (its pid no longer runs
on this host, or its heartbeat stopped long ago) is stale: it is reported,
and only broken when the operator says so with break_stale_lock, because
"gone" is a guess a person should confirm.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
import threading
import time
import typing as t
from dataclasses import asdict, dataclass
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import LockHeld, RepositoryError, StaleLock
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.base import Backend
from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time, utc_now

LOCK_NAME = "lock.json"
HEARTBEAT_INTERVAL = 15.0
STALE_AFTER = 300.0
POLL_INTERVAL = 2.0


@dataclass
class LockInfo:
    lock_id: str
    component: str
    operation: str
    host: str
    pid: int
    user: str
    acquired_at: str
    heartbeat_at: str
    backup_id: str | None = None

    def describe(self) -> str:
        what = f"{self.operation} {self.backup_id}" if self.backup_id else self.operation
        return (
            f"{what} (pid {self.pid} on host {self.host}, user {self.user}, since {self.acquired_at}, "
            f"last heartbeat {self.heartbeat_at})"
        )

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> LockInfo | None:
        try:
            data = json.loads(raw.decode("utf-8"))
            return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})
        except (ValueError, TypeError, UnicodeDecodeError):
            return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def stale_reason(
    holder: LockInfo | None,
    this_host: str,
    now: datetime,
    stale_after: float = STALE_AFTER,
    heartbeat_interval: float = HEARTBEAT_INTERVAL,
) -> str | None:
    """Why the holder of a lock is gone, or None if it may still be working."""
    if holder is None:
        return "its lock file is unreadable"
    if holder.host == this_host and not pid_alive(int(holder.pid)):
        return f"pid {holder.pid} no longer runs on host {holder.host}"
    try:
        age = (now - parse_time(holder.heartbeat_at)).total_seconds()
    except (ValueError, TypeError):
        return "its heartbeat time is unreadable"
    if age > stale_after:
        return f"its last heartbeat was {int(age)}s ago (a live holder renews it every {int(heartbeat_interval)}s)"
    return None


class ComponentLock:
    """Context manager holding the lock of one component in one repository."""

    def __init__(
        self,
        backend: Backend,
        component: str,
        operation: str,
        *,
        timeout: float,
        break_stale: bool = False,
        backup_id: str | None = None,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        stale_after: float = STALE_AFTER,
        clock: t.Callable[[], datetime] = utc_now,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.backend = backend
        self.component = component
        self.key = f"{component}/{LOCK_NAME}"
        self.timeout = timeout
        self.break_stale = break_stale
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after
        self._clock = clock
        self._sleep = sleep
        now = format_time(clock())
        self.info = LockInfo(
            lock_id=secrets.token_hex(8), component=component, operation=operation, host=socket.gethostname(),
            pid=os.getpid(), user=getpass.getuser(), acquired_at=now, heartbeat_at=now, backup_id=backup_id,
        )
        self._payload = self.info.to_bytes()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self.lost = False
        self.broken: LockInfo | None = None  # a stale lock this one replaced

    def stale_reason(self, holder: LockInfo | None) -> str | None:
        return stale_reason(holder, self.info.host, self._clock(), self.stale_after, self.heartbeat_interval)

    def acquire(self) -> ComponentLock:
        started = time.monotonic()
        where = self.backend.describe(self.key)
        while True:
            if self.backend.create_exclusive(self.key, self._payload):
                self._start_heartbeat()
                return self
            raw = self.backend.read_bytes(self.key)
            if raw is None:
                continue  # released between our two calls
            holder = LockInfo.from_bytes(raw)
            reason = self.stale_reason(holder)
            shown = holder.describe() if holder else "an unknown holder"
            if reason is not None:
                if self.break_stale:
                    if self.backend.delete_if_unchanged(self.key, raw):
                        self.broken = holder
                    continue
                raise StaleLock(
                    f"component {self.component} is locked by {shown}, but {reason}: the lock {where} is stale. "
                    f"Make sure that no backup or prune of {self.component} is still running, then run again with "
                    "break_stale_lock: true",
                    lock=json.loads(raw) if holder else None,
                )
            waited = time.monotonic() - started
            if waited >= self.timeout:
                raise LockHeld(
                    f"component {self.component} is locked by {shown}; gave up after waiting {int(waited)}s "
                    f"(lock_timeout {int(self.timeout)}s). Let it finish, or raise lock_timeout",
                    lock=json.loads(raw),
                )
            self._sleep(min(POLL_INTERVAL, max(self.timeout - waited, 0.05)))

    def _start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._beat, name=f"lock-heartbeat-{self.component}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_interval):
            with self._guard:
                self.info.heartbeat_at = format_time(self._clock())
                payload = self.info.to_bytes()
                try:
                    renewed = self.backend.replace_if_unchanged(self.key, self._payload, payload)
                except RepositoryError:
                    continue  # a passing storage error; the next beat tries again
                if renewed:
                    self._payload = payload
                else:
                    # Someone broke our lock; the writer checks `lost` before committing.
                    self.lost = True
                    return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._guard:
            if not self.lost:
                self.backend.delete_if_unchanged(self.key, self._payload)

    def __enter__(self) -> ComponentLock:
        return self.acquire()

    def __exit__(self, *exc_info: t.Any) -> None:
        self.release()
