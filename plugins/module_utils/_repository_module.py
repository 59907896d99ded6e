# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base of the modules that read or write backups (the action group `repository` of meta/runtime.yml).

A repository module declares its own options, the repository option groups it uses, and its work:

    module = RepositoryModule(dict(component=dict(type="str", required=True)), uses=("lock", "backup"))
    module.run(lambda repository: files_backup(repository, component=module.params["component"], ...))

The base does the rest the same way for every such module: it accepts every plan-level repository option
(plan_repository_argument_spec, so that one module_defaults entry of group/resilience.dr.repository serves
them all) besides the module's own, supports check mode, fails before any work when a Python library the
module needs is missing, opens the repository with only the option groups the module uses, and runs the work
through run_module. The work's `warnings` become Ansible warnings, a restore that passed over newer backups
says so, its `diff` is returned only in diff mode, and the commands run through command_runner() are in the
result and in the failure.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Iterable, Mapping, Sequence

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import DrError
from ansible_collections.resilience.dr.plugins.module_utils._module import require_libraries, run_module
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import (
    open_repository,
    plan_repository_argument_spec,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.selection import skipped_backups_warning

if t.TYPE_CHECKING:
    from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository

Work = Callable[[], dict[str, t.Any]]
OptionGroups = Sequence[Sequence[str]]


def repository_module_argument_spec(own: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Every plan-level repository option, then the module's own (which may redefine one: backup_copy's repository)."""
    spec = plan_repository_argument_spec()
    spec.update(own)
    return spec


class RepositoryModule(AnsibleModule):
    """An AnsibleModule that reads or writes backups in the repository its options name."""

    def __init__(
        self,
        argument_spec: Mapping[str, t.Any],
        *,
        uses: Iterable[str],
        requires: Sequence[Callable[[], None]] = (),
        mutually_exclusive: OptionGroups | None = None,
        required_together: OptionGroups | None = None,
        required_one_of: OptionGroups | None = None,
        required_if: Sequence[tuple[t.Any, ...]] | None = None,
        required_by: Mapping[str, str | Sequence[str]] | None = None,
    ) -> None:
        """argument_spec: the module's own options; uses: the repository option groups (options.OPTION_GROUPS)
        it uses besides `repository`, the others it accepts and ignores; requires: functions that raise
        DependencyMissing when a Python library the module needs is not installed (_postgres.require_psycopg2).
        The rest are AnsibleModule's rules between options."""
        rules = dict(mutually_exclusive=mutually_exclusive, required_together=required_together,
                     required_one_of=required_one_of, required_if=required_if, required_by=required_by)
        super().__init__(
            argument_spec=repository_module_argument_spec(argument_spec),
            supports_check_mode=True,
            **{name: rule for name, rule in rules.items() if rule is not None},
        )
        self.uses = tuple(uses)
        self._command_runner: CommandRunner | None = None
        require_libraries(self, *requires)

    @property
    def diff_mode(self) -> bool:
        """Whether the task runs with --diff (or diff: true)."""
        return bool(self._diff)

    def open_repository(self) -> Repository:
        """The repository the options name, configured from the option groups this module uses only."""
        return open_repository(self.params, uses=self.uses)

    def command_runner(self) -> CommandRunner:
        """The runner for the programs the work runs: what it ran goes into the result, or the failure."""
        if self._command_runner is None:
            self._command_runner = CommandRunner()
        return self._command_runner

    def run(self, work: Callable[[Repository], dict[str, t.Any]]) -> None:
        """Open the repository, run work(repository) and exit with its result, or fail with the DrError raised."""
        self.run_work(lambda: work(self.open_repository()))

    def run_work(self, work: Work) -> None:
        """run() for work that opens its repositories itself (backup_copy opens a source and a destination)."""
        run_module(self, lambda: self._finished(work))

    def _finished(self, work: Work) -> dict[str, t.Any]:
        try:
            result = work()
        except DrError as error:
            self._add_executed_commands(error.details)
            raise
        self._add_executed_commands(result)
        self._warn_skipped_backups(result)
        for warning in result.pop("warnings", None) or []:
            self.warn(warning)
        if not self.diff_mode:
            result.pop("diff", None)
        return result

    def _warn_skipped_backups(self, result: dict[str, t.Any]) -> None:
        """A restore that passed over newer backups because they cannot be restored says so, naming them."""
        message = skipped_backups_warning(str(result.get("component")), str(result.get("backup_id")),
                                          result.get("skipped_backups") or [])
        if message:
            self.warn(message)

    def _add_executed_commands(self, result: dict[str, t.Any]) -> None:
        if self._command_runner is not None:
            result["executed_commands"] = self._command_runner.executed_commands
