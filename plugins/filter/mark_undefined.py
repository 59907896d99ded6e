# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: mark_undefined
short_description: A DR plan whose undefined variables are marked, so a run needs only the secrets it uses
version_added: 0.1.0
description:
  - Reads the DR plan value by value. A value that names a variable that is not defined (a vault secret the run was
    not given, such as C(vault_sessions_password) on a run that restores only C(orders-db)) becomes a marker naming
    the variable, instead of failing the whole plan.
  - Hand the result to M(resilience.dr.plan_validate), which fails, naming the variable and the component that needs
    it, when the run does use it (O(resilience.dr.plan_validate#module:uses),
    O(resilience.dr.plan_validate#module:component)) or when it is not a secret; the C(resilience.dr.plan) role
    does so.
  - Never use the result as the secrets themselves; read them with P(resilience.dr.plan_secrets#filter).
author:
  - resilience.dr maintainers (@resilience-dr)
options:
  _input:
    description: The DR plan, C(dr_plan).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the plan for a run that restores orders-db alone
  resilience.dr.plan_validate:
    plan: "{{ dr_plan | resilience.dr.mark_undefined }}"
    component: orders-db
"""

RETURN = r"""
_value:
  description: The plan as plain values, each undefined value replaced by a marker naming its variable.
  type: dict
"""

import typing as t
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.resilience.dr.plugins.plugin_utils._plan_values import plain


def mark_undefined(plan: t.Any) -> dict[str, t.Any]:
    if not isinstance(plan, Mapping):
        raise AnsibleFilterError(f"mark_undefined needs the DR plan (a dictionary), not {type(plan).__name__}")
    return plain(plan)


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"mark_undefined": mark_undefined}
