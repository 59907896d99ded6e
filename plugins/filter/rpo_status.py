# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: rpo_status
short_description: How old each component's newest verified backup is on every site, against its RPO
version_added: 0.1.0
description:
  - Takes the resolved plan (the C(resilience.dr.plan) role's C(plan_resolved)) and, per site, the result of
    M(resilience.dr.backup_info) on that site's repository, and gives one row per component and site.
  - A postgresql, redis or files component is over when its newest verified backup on a site is older than its
    C(rpo), or when that site has no verified backup of it at all.
  - An rds component is checked with O(rds_points), the results of M(resilience.dr.rds_backup_info) in each site's
    region; it is over on a site whose newest recovery point (snapshot, copy, automated snapshot, latest
    restorable time) is older than its C(rpo), or that has none. Without O(rds_points) it is not checked.
  - s3 components are not checked (S3 object versions are not in the repository); their rows say so and are
    never over.
  - The ages are those M(resilience.dr.backup_info) and M(resilience.dr.rds_backup_info) measured; this filter does
    not read the clock.
author:
  - resilience.dr maintainers (@resilience-dr)
positional: infos, rds_points
options:
  _input:
    description: The resolved plan, C(plan_resolved).
    type: dict
    required: true
  infos:
    description: Site name to the result of M(resilience.dr.backup_info) on that site's repository.
    type: dict
    required: true
  rds_points:
    description: Component name to site name to the result of M(resilience.dr.rds_backup_info) in that site's region.
    type: dict
"""

EXAMPLES = r"""
- name: Work out which components are over their RPO
  ansible.builtin.set_fact:
    rpo_check_status: "{{ plan_resolved | resilience.dr.rpo_status({'primary': primary_backups, 'secondary': secondary_backups}) }}"
"""

RETURN = r"""
_value:
  description:
    - C(rows) - one per component and site (C(component), C(site), C(kind), C(checked), C(backup_id), C(age_s),
      C(rpo_s), C(over), C(note)); s3 components, and rds components without O(rds_points), have one row with
      C(site) null and C(checked) false.
    - C(over) - a sentence for each row over its RPO, naming the component and the site.
    - C(samples) - the metrics for M(resilience.dr.dr_metrics) (backup age per component and site, +Inf when
      there is no verified backup or RDS recovery point; RPO target; size of the serving site's newest verified
      backup).
  type: dict
"""

import typing as t
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.resilience.dr.plugins.plugin_utils._plan_values import plain as _plain
from ansible_collections.resilience.dr.plugins.module_utils._rpo_check import rpo_status as _rpo_status


def rpo_status(plan: t.Any, infos: t.Any, rds_points: t.Any = None) -> dict[str, t.Any]:
    if not isinstance(plan, Mapping) or "components" not in plan:
        raise AnsibleFilterError("rpo_status needs the resolved plan (plan_resolved, from the resilience.dr.plan role)")
    if not isinstance(infos, Mapping):
        raise AnsibleFilterError(f"rpo_status needs a dictionary of site to backup_info result, not {type(infos).__name__}")
    for site, info in infos.items():
        if not isinstance(info, Mapping) or "components" not in info:
            raise AnsibleFilterError(f"rpo_status: the entry for site {site} is not a backup_info result (no components)")
    if rds_points is not None and not isinstance(rds_points, Mapping):
        raise AnsibleFilterError(
            f"rpo_status: rds_points must map component to site to rds_backup_info result, not {type(rds_points).__name__}"
        )
    return _rpo_status(_plain(plan), _plain(infos), _plain(rds_points) if rds_points else None)


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {"rpo_status": rpo_status}
