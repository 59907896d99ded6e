# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boundary between a module and the logic in module_utils.

Every module hands its work to run_module: the work returns the result
dictionary; run_module adds duration_s, and turns a DrError into fail_json
carrying the error's message and details. Other exceptions are bugs and keep
their traceback. The modules that read or write backups do this through
RepositoryModule (_repository_module.py).
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable

from ansible_collections.resilience.dr.plugins.module_utils._errors import DependencyMissing, DrError
from ansible_collections.resilience.dr.plugins.module_utils._timing import Stopwatch

if t.TYPE_CHECKING:
    from ansible.module_utils.basic import AnsibleModule

    from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule


def run_module(module: AnsibleModule | AnsibleAWSModule, work: Callable[[], dict[str, t.Any]]) -> None:
    """Run work() and exit the module with its result, or fail with the DrError it raised."""
    stopwatch = Stopwatch()
    try:
        result = work()
    except DrError as error:
        details = dict(error.details)
        details.pop("msg", None)
        details.pop("failed", None)
        module.fail_json(msg=error.message, duration_s=stopwatch.elapsed(), **details)
        return
    result.setdefault("changed", False)
    result["duration_s"] = stopwatch.elapsed()
    module.exit_json(**result)


def require_libraries(module: AnsibleModule | AnsibleAWSModule, *requirements: Callable[[], None]) -> None:
    """Fail before any work when a Python library the module needs is not installed.

    Each requirement (such as _postgres.require_psycopg2) raises DependencyMissing with the collection's one
    message for it (_errors.missing_library_message): the library, what it is for, and how to install it.
    """
    for require in requirements:
        try:
            require()
        except DependencyMissing as error:
            module.fail_json(msg=error.message)


def mask_options(module: AnsibleModule | AnsibleAWSModule, *names: str) -> None:
    """Mask the values of these options in the result and the invocation, as no_log options are.

    For options whose argument spec is not ours (amazon.aws keeps access_key visible) that a DR plan
    treats as secrets.
    """
    for name in names:
        value = module.params.get(name)
        if value:
            module.no_log_values.add(str(value))
