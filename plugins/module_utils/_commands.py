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

    def describe(self, argv: t.Sequence[str], environment: t.Mapping[str, str] | None = None) -> str:
        names = sorted({*self.environment, *(environment or {})})
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
    ) -> subprocess.CompletedProcess:
        """Run argv to completion, capturing output; raise CommandFailed on a non-zero status."""
        self.executed_commands.append(self.describe(argv, environment))
        stopwatch = Stopwatch()
        try:
            completed = subprocess.run(
                [str(argument) for argument in argv],
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                cwd=cwd,
                env=self.env(environment),
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
