# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: timer_units
short_description: Name the systemd units of each backup schedule
version_added: 0.1.0
description:
  - Takes the backup runs of a plan (C(plan_resolved.schedules.backup), each with C(schedule) and C(components))
    and gives each its unit name, C(<prefix>-<schedule as a word>) - C(daily) gives C(<prefix>-daily),
    C(*-*-* 02:00:00) gives C(<prefix>-02-00-00), C(*:0/15) gives C(<prefix>-0-15).
  - A schedule whose word is empty, or the same as an earlier schedule's, also gets the first eight hex digits of
    its SHA-256, so each name is unique and the same on every run for the same schedule.
author:
  - resilience.dr maintainers (@resilience-dr)
positional: prefix
options:
  _input:
    description: The backup runs, each a dictionary with at least C(schedule).
    type: list
    elements: dict
    required: true
  prefix:
    description: The start of every name, like C(resilience-dr-backup-shopfront).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Show the unit of each backup schedule
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.components | join(', ') }} at {{ item.schedule }}"
  loop: "{{ plan_resolved.schedules.backup | resilience.dr.timer_units('resilience-dr-backup-' ~ plan_resolved.name) }}"
"""

RETURN = r"""
_value:
  description: The runs in the same order, each with C(name) added.
  type: list
  elements: dict
  sample: [{schedule: "*:0/15", components: [orders-db], name: resilience-dr-backup-shopfront-0-15}]
"""

import typing as t
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.resilience.dr.plugins.plugin_utils._plan_values import plain as _plain
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._systemd import unit_names


def timer_units(runs: t.Any, prefix: t.Any) -> list[dict[str, t.Any]]:
    listed = isinstance(runs, Sequence) and not isinstance(runs, (str, bytes))
    if not listed or not all(isinstance(run, Mapping) and isinstance(run.get("schedule"), str) for run in runs):
        raise AnsibleFilterError("timer_units needs a list of backup runs, each with its schedule (plan_resolved.schedules.backup)")
    plain = _plain(runs)
    try:
        names = unit_names(str(prefix), [run["schedule"] for run in plain])
    except ConfigurationError as error:
        raise AnsibleFilterError(error.message) from None
    return [dict(run, name=names[run["schedule"]]) for run in plain]


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"timer_units": timer_units}
