# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stopping and starting a Redis server (an RDB restore swaps its files while
it is stopped), and waiting until it has loaded its data again.
"""

from __future__ import annotations

import shlex
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget, persistence, reachable
from ansible_collections.resilience.dr.plugins.module_utils._timing import wait_for

NO_SERVICE = "method rdb restores with the server stopped: give service, or both stop_command and start_command"


class Service:
    """Stops and starts the server by service name or by commands."""

    def __init__(self, runner: CommandRunner, *, service: str | None, stop_command: list[str],
                 start_command: list[str]) -> None:
        self.runner = runner
        if service:
            systemctl = runner.require("systemctl", "give stop_command and start_command instead of service")
            stop_command, start_command = [systemctl, "stop", service], [systemctl, "start", service]
        if not stop_command or not start_command:
            raise ConfigurationError(NO_SERVICE)
        self.stop_command, self.start_command = stop_command, start_command

    def stop(self) -> None:
        self.runner.run(self.stop_command, what="stopping Redis", timeout=300)

    def start(self) -> None:
        self.runner.run(self.start_command, what="starting Redis", timeout=300)


def split_command(command: t.Sequence[str] | None, option: str) -> list[str]:
    """An argument list; a single element with spaces is split like a shell would (no shell runs)."""
    items = list(command or [])
    if len(items) == 1 and " " in items[0].strip():
        items = shlex.split(items[0])
    if command is not None and not items:
        raise ConfigurationError(f"{option} is empty")
    return items


def wait_loaded(target: RedisTarget, timeout: float) -> None:
    """Wait until the server answers and has finished loading its data files."""
    def loaded() -> bool | None:
        client = _reachable_or_loading(target)
        if client is None:
            return None
        state = persistence(target, client)
        return True if not state.get("loading") else None
    wait_for(loaded, timeout=timeout, what=f"Redis at {target.address} to start and load its data",
             interval=0.05, max_interval=0.25)


def _reachable_or_loading(target: RedisTarget) -> t.Any:
    try:
        return reachable(target)
    except SourceUnavailable as error:
        if "LOADING" in str(error):
            return None
        raise
