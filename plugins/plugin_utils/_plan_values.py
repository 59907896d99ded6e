# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR plan as plain Python values, on the controller, for the plan filters.

Ansible 2.19 hands a filter the plan as a lazy container: each value is
templated when it is read, and a value naming an undefined variable (a vault
secret the run was not given) raises then. Reading the plan value by value
lets a run go on without the secrets of the parts it does not use: each
undefined value becomes a marker naming its variable (module_utils/_plan/secrets.py,
UNDEFINED_MARKER), which plan_validate turns into a clear problem when the run
does need it.
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Mapping

from ansible.errors import AnsibleUndefinedVariable
from jinja2.exceptions import UndefinedError

from ansible_collections.resilience.dr.plugins.module_utils._plan.secrets import UNDEFINED_MARKER

# "'vault_orders_db_password' is undefined" -> the variable's name.
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined")


def _marker(error: Exception) -> str:
    message = str(error)
    found = _UNDEFINED_NAME.search(message)
    return UNDEFINED_MARKER + (found.group(1) if found else message.splitlines()[0] if message else "unknown")


def _read(container: t.Any, key: t.Any) -> t.Any:
    """The plain value of container[key], or the marker of the undefined variable it names."""
    try:
        return plain(container[key])
    except (UndefinedError, AnsibleUndefinedVariable) as error:
        return _marker(error)


def plain(value: t.Any) -> t.Any:
    """The value as built-in dicts, lists and scalars, each undefined value replaced by its marker.

    Ansible hands filters its own (tagged) containers, which copy.deepcopy walks
    slowly; resolving the plan copies it many times, so convert it once.
    """
    if isinstance(value, Mapping):
        # Reading a value templates it, so each value is read inside _read, where an undefined one is caught.
        return {plain(key): _read(value, key) for key in value}
    if isinstance(value, (list, tuple)):
        return [_read(value, index) for index in range(len(value))]
    for kind in (bool, str, int, float):
        if isinstance(value, kind):
            # Exactly the plain type (a bool is an int, Ansible's unsafe text a str): a subclass is converted.
            return value if value.__class__ is kind else kind(value)
    return value
