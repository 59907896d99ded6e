# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running external programs the way this collection promises.

Argument lists only (never a shell string), secrets only in the environment
(never in argv), every exit status checked, and the tail of stderr in the
error. Each command run is recorded, without secrets, for the module result's
`executed_commands`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import CommandFailed, DependencyMissing
from ansible_collections.resilience.dr.plugins.module_utils._timing import Stopwatch

STDERR_TAIL_LINES = 15


def stderr_tail(stderr: bytes | str | None, lines: int = STDERR_TAIL_LINES) -> str:
    if not stderr:
        return ""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    return "\n".join(text.strip().splitlines()[-lines:])


class CommandRunner:
    """Runs programs and remembers what it ran.

    `environment` is added to every command (typically PGPASSWORD and other
    secrets); only the names of its variables are recorded.
    """

    def __init__(self, environment: t.Mapping[str, str] | None = None) -> None:
        self.environment = dict(environment or {})
        self.executed_commands: list[str] = []

    def describe(self, argv: t.Sequence[str], environment: t.Mapping[str, str] | None = None,
                 own_environment: bool = False) -> str:
        names = sorted({*({} if own_environment else self.environment), *(environment or {})})
        prefix = " ".join(f"{name}=***" for name in names)
        command = shlex.join(str(argument) for argument in argv)
        return f"{prefix} {command}" if prefix else command

    def require(self, program: str, hint: str) -> str:
        """Absolute path of program, or a DependencyMissing naming the package."""
        path = shutil.which(program)
        if path is None:
            raise DependencyMissing(f"the program {program} is not installed or not on PATH; {hint}")
        return path

    def env(self, extra: t.Mapping[str, str] | None = None) -> dict[str, str]:
        merged = dict(os.environ)
        merged.update(self.environment)
        merged.update(extra or {})
        return merged

    def run(
        self,
        argv: t.Sequence[str],
        *,
        environment: t.Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
        check: bool = True,
        what: str | None = None,
        own_environment: t.Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess:
        """Run argv to completion, capturing output; raise CommandFailed on a non-zero status.

        own_environment, when given, is the program's whole environment: neither this process's nor the
        runner's (which carries secrets) is passed on - for a server that would keep them for its lifetime.
        """
        self.executed_commands.append(self.describe(argv, environment, own_environment is not None))
        stopwatch = Stopwatch()
        try:
            completed = subprocess.run(
                [str(argument) for argument in argv],
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                cwd=cwd,
                env=self.env(environment) if own_environment is None else {**own_environment, **(environment or {})},
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            raise DependencyMissing(f"the program {argv[0]} is not installed or not on PATH") from None
        except subprocess.TimeoutExpired:
            raise CommandFailed(
                f"{what or argv[0]} did not finish within {timeout:g}s: {self.describe(argv, environment)}",
                command=self.describe(argv, environment),
            ) from None
        if check and completed.returncode != 0:
            raise CommandFailed(
                f"{what or os.path.basename(str(argv[0]))} failed with exit status {completed.returncode} "
                f"after {stopwatch.elapsed():g}s: {stderr_tail(completed.stderr) or stderr_tail(completed.stdout) or 'no error output'}",
                command=self.describe(argv, environment),
                rc=completed.returncode,
            )
        return completed

    def start(
        self,
        argv: t.Sequence[str],
        *,
        environment: t.Mapping[str, str] | None = None,
        cwd: str | None = None,
        what: str | None = None,
    ) -> RunningCommand:
        """Start argv in the background (for work that overlaps with it); wait() checks its status."""
        self.executed_commands.append(self.describe(argv, environment))
        return RunningCommand(
            [str(argument) for argument in argv], env=self.env(environment), cwd=cwd,
            what=what or os.path.basename(str(argv[0])), description=self.describe(argv, environment),
        )


class RunningCommand:
    """A program running in the background, its stderr kept in a temporary file (no pipe to fill up)."""

    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: str | None, what: str, description: str) -> None:
        self.what = what
        self.description = description
        self._stopwatch = Stopwatch()
        self._stderr = tempfile.TemporaryFile()  # pylint: disable=consider-using-with
        try:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr, cwd=cwd, env=env,
            )
        except FileNotFoundError:
            self._stderr.close()
            raise DependencyMissing(f"the program {argv[0]} is not installed or not on PATH") from None

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def stderr(self) -> str:
        if self._stderr.closed:
            return ""
        self._stderr.seek(0)
        return stderr_tail(self._stderr.read())

    def read_stderr(self, offset: int = 0) -> bytes:
        """What the program wrote to stderr from byte `offset` on so far (to follow its progress)."""
        if self._stderr.closed:
            return b""
        return os.pread(self._stderr.fileno(), 1 << 20, offset)

    def ended_within(self, seconds: float) -> bool:
        """Whether the program ends within `seconds` (waiting no longer); how it ended is wait()'s to check."""
        try:
            self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            return False
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the program; raise CommandFailed (with the tail of its stderr) unless it exited with 0."""
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise CommandFailed(f"{self.what} did not finish within {timeout:g}s: {self.description}",
                                command=self.description) from None
        try:
            if status != 0:
                cause = f"exit status {status}" if status > 0 else f"signal {-status}"
                raise CommandFailed(
                    f"{self.what} failed with {cause} after {self._stopwatch.elapsed():g}s: "
                    f"{self.stderr() or 'no error output'}",
                    command=self.description, rc=status,
                )
        finally:
            self._stderr.close()

    def stop(self) -> None:
        """End the program (TERM, then KILL after 10 s) when the work around it failed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
