# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: iam_keys_to_make_room
short_description: The inactive IAM access keys to delete so that a user can have one more key
version_added: 0.1.0
description:
  - IAM allows two access keys per user. Takes the C(access_keys) of M(amazon.aws.iam_access_key_info) for one user
    and the ids already being deleted, and gives the ids of the oldest inactive keys to delete so that one more key
    can be created (none when there is room).
  - Fails, naming the user, when the user has two active keys - which one the application no longer uses is the
    operator's call.
author:
  - resilience.dr maintainers (@resilience-dr)
positional: deleted, user
options:
  _input:
    description: The user's access keys (C(access_key_id), C(create_date), C(status)).
    type: list
    elements: dict
    required: true
  deleted:
    description: Ids of keys already being deleted.
    type: list
    elements: str
    required: true
  user:
    description: The user's name, for the message.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Delete an inactive access key so that IAM allows the new one
  amazon.aws.iam_access_key:
    user_name: deployer
    id: "{{ item }}"
    state: absent
  loop: "{{ deployer_keys.access_keys | resilience.dr.iam_keys_to_make_room([], 'deployer') }}"
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
from ansible_collections.resilience.dr.plugins.module_utils._iam_keys import room_for_new_key


def iam_keys_to_make_room(keys: t.Any, deleted: t.Any, user: str) -> list[str]:
    try:
        return room_for_new_key(list(keys or []), list(deleted or []), user)
    except ConfigurationError as error:
        raise AnsibleFilterError(error.message) from None


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"iam_keys_to_make_room": iam_keys_to_make_room}
