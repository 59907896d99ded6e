# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boundary between a module and the logic in module_utils.

Every module hands its work to run_module: the work returns the result
dictionary; run_module adds duration_s, and turns a DrError into fail_json
carrying the error's message and details. Other exceptions are bugs and keep
their traceback.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import DrError
from ansible_collections.resilience.dr.plugins.module_utils._timing import Stopwatch


def run_module(module: t.Any, work: t.Callable[[], dict[str, t.Any]]) -> None:
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


def mask_options(module: t.Any, *names: str) -> None:
    """Mask the values of these options in the result and the invocation, as no_log options are.

    For options whose argument spec is not ours (amazon.aws keeps access_key visible) that a DR plan
    treats as secrets.
    """
    for name in names:
        value = module.params.get(name)
        if value:
            module.no_log_values.add(str(value))
