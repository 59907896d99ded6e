# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: iam_keys_expired
short_description: The inactive IAM access keys whose grace period is over
version_added: 0.1.0
description:
  - Takes the C(access_keys) of M(amazon.aws.iam_access_key_info) for one user and gives the ids of the inactive keys
    deactivated at least O(grace) before O(now).
  - IAM does not record when a key was deactivated; a key replaced by the security_incident role is deactivated when
    its replacement is created, so the creation time of the next newer key is taken as the deactivation time (the
    key's own creation time when there is none).
  - The clock is an option, O(now), so that runs and tests decide on the same time.
author:
  - resilience.dr maintainers (@resilience-dr)
positional: grace, now
options:
  _input:
    description: The user's access keys (C(access_key_id), C(create_date), C(status)).
    type: list
    elements: dict
    required: true
  grace:
    description: How long a replaced key stays, a duration such as V(7d), V(36h) or V(0).
    type: raw
    required: true
  now:
    description: The time to decide at, ISO 8601 (C(now(utc=true\).isoformat(\))).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Delete the replaced access keys whose grace period is over
  amazon.aws.iam_access_key:
    user_name: deployer
    id: "{{ item }}"
    state: absent
  loop: "{{ deployer_keys.access_keys | resilience.dr.iam_keys_expired('7d', now(utc=true).isoformat()) }}"
"""

RETURN = r"""
_value:
  description: The ids of the keys to delete, oldest first.
  type: list
  elements: str
"""

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._iam_keys import expired_keys


def iam_keys_expired(keys: t.Any, grace: t.Any, now: t.Any) -> list[str]:
    try:
        return expired_keys(list(keys or []), grace, now)
    except ConfigurationError as error:
        raise AnsibleFilterError(error.message) from None


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"iam_keys_expired": iam_keys_expired}
