# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: systemd_command
short_description: An argument list as the command line of a systemd ExecStart=
version_added: 0.1.0
description:
  - Quotes each argument the way systemd splits command lines (not a shell's way) - a word with anything but
    letters, digits and C(_@%+=:,./-) goes in double quotes, its backslashes and double quotes escaped - and
    doubles every C(%) and C($), which systemd would otherwise expand as a specifier or an environment variable.
  - The program must be an absolute path; an argument with a control character (a line break) is refused.
author:
  - resilience.dr maintainers (@resilience-dr)
options:
  _input:
    description: The program and its arguments.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Write a service that runs the backup of two components
  ansible.builtin.copy:
    dest: /etc/systemd/system/backup-orders.service
    mode: "0644"
    content: |
      [Service]
      Type=oneshot
      ExecStart={{ ['/opt/ansible/bin/ansible-playbook', 'resilience.dr.backup', '-e', '@/etc/resilience-dr/shop front.yml',
                    '-e', {'components': ['orders-db', 'uploads']} | to_json] | resilience.dr.systemd_command }}
"""

RETURN = r"""
_value:
  description: The command line.
  type: str
  sample: /opt/ansible/bin/ansible-playbook resilience.dr.backup -e "@/etc/resilience-dr/shop front.yml"
"""

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._systemd import command_line


def systemd_command(argv: t.Any) -> str:
    if not isinstance(argv, (list, tuple)) or any(isinstance(argument, (dict, list, tuple)) for argument in argv):
        raise AnsibleFilterError("systemd_command needs the command as a list of arguments (strings)")
    try:
        return command_line([str(argument) for argument in argv])
    except ConfigurationError as error:
        raise AnsibleFilterError(error.message) from None


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"systemd_command": systemd_command}
