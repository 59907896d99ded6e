# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: plan_secrets
short_description: The secrets of a DR plan, resolved for one site, to hand to a module where it needs them
version_added: 0.1.0
description:
  - The resolved plan that M(resilience.dr.plan_validate) returns (and the C(resilience.dr.plan) role keeps as
    the fact C(plan_resolved)) holds no secret. This filter gives the secrets alone, in the same places as in
    the resolved plan (site overrides applied) - C(repository.secret_key),
    C(components.<name>.connection.login_password) and so on.
  - Use it in the arguments of the one task that needs a secret, and only for module options that are
    C(no_log) (or on a task with C(no_log=true)); never keep its result in a fact.
  - The secret keys are listed in C(docs/dr-plan.md).
  - A secret whose variable is not defined is left out, so a run needs only the secrets of the parts it uses;
    the C(resilience.dr.plan) role has already refused a run that needs one
    (see P(resilience.dr.mark_undefined#filter)).
author:
  - resilience.dr maintainers (@resilience-dr)
positional: site
options:
  _input:
    description: The DR plan, C(dr_plan).
    type: dict
    required: true
  site:
    description: The site to resolve the plan for, usually C(plan_resolved.site).
    type: str
    default: primary
"""

EXAMPLES = r"""
- name: Restore orders-db with the password from the plan
  vars:
    secrets: "{{ dr_plan | resilience.dr.plan_secrets(plan_resolved.site) }}"
  resilience.dr.pg_restore:
    repository: "{{ plan_resolved.repository.repository }}"
    component: orders-db
    secret_key: "{{ secrets.repository.secret_key | default(omit) }}"
    login_password: "{{ secrets.components['orders-db'].connection.login_password | default(omit) }}"
"""

RETURN = r"""
_value:
  description:
    - The secrets of the plan resolved for O(site), nested as in the resolved plan; parts without a secret are
      left out.
  type: dict
  sample: {repository: {secret_key: "..."}, components: {orders-db: {connection: {login_password: "..."}}}}
"""

import typing as t
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._plan.secrets import secrets, undefined_variable
from ansible_collections.resilience.dr.plugins.plugin_utils._plan_values import plain


def _defined(value: t.Any) -> t.Any:
    """The secrets without those whose variable is undefined (a part the run does not use: plan_validate
    refuses a run that needs one)."""
    if not isinstance(value, dict):
        return value
    kept = {key: _defined(item) for key, item in value.items() if undefined_variable(item) is None}
    # A part left without secrets is left out, as parts without a secret are.
    return {key: item for key, item in kept.items() if item != {}}


def plan_secrets(plan: t.Any, site: str = "primary") -> dict[str, t.Any]:
    if not isinstance(plan, Mapping):
        raise AnsibleFilterError(f"plan_secrets needs the DR plan (a dictionary), not {type(plan).__name__}")
    try:
        return _defined(secrets(plain(plan), site))
    except ConfigurationError as error:
        # The message names the plan's problems, never a secret.
        raise AnsibleFilterError(error.message) from None


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"plan_secrets": plan_secrets}
