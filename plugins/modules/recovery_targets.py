#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: recovery_targets
short_description: Fail a recovery run that missed its RTO or RPO target
version_added: 0.1.0
description:
  - The last task of a recovery playbook. It reads what the C(resilience.dr.dr_report) callback has measured up
    to the task's start - the achieved RTO and RPO of every component against its C(rto) and C(rpo) in the DR
    plan - and fails when a target was missed and O(fail_on_miss) is on, so ansible-playbook ends with exit
    status 2 like any failed task, the play recap and every callback still see the end of the run, and CI jobs,
    AWX and drills see a failed recovery.
  - The level 1, 2 and 3 and failback playbooks of this collection end with it, passing the extra variable
    C(fail_on_target_miss) when it is set.
  - Without the callback nothing is measured; the task is then skipped, or fails when O(fail_on_miss=true) asks
    for a check it cannot make.
  - Runs on the controller, changes nothing and never fails in check mode or after a task of the run failed.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  connection:
    support: none
  delegation:
    support: none
  diff_mode:
    support: none
  platform:
    platforms: all
options:
  fail_on_miss:
    description:
      - Fail the task when a component missed its RTO or RPO target.
      - When not given, the callback's C(fail_on_target_miss) setting decides (C([callback_dr_report]
        fail_on_target_miss) in ansible.cfg or C(DR_REPORT_FAIL_ON_TARGET_MISS)), which defaults to false.
    type: bool
"""

EXAMPLES = r"""
- name: Fail the run when the recovery missed its RTO or RPO target
  resilience.dr.recovery_targets:
    fail_on_miss: true
"""

RETURN = r"""
verdict:
  description: C(met), C(missed), C(no_targets) (nothing restored had a target) or C(check_mode).
  returned: when the callback is enabled
  type: str
  sample: missed
misses:
  description: One sentence per missed target.
  returned: when the callback is enabled
  type: list
  elements: str
  sample: ["orders-db: RPO 9m 05s exceeds the target 1m (1m 00s)"]
rto_seconds:
  description: The run's achieved RTO so far, from the incident start to the last restore, verification or DNS change.
  returned: when the callback is enabled
  type: float
rpo_seconds:
  description: The worst component's achieved RPO so far.
  returned: when the callback is enabled
  type: float
run_id:
  description: The run id of the report the callback writes at the end of the run.
  returned: when the callback is enabled
  type: str
fail_on_miss:
  description: Whether a missed target fails the task, as decided from O(fail_on_miss) and the callback's setting.
  returned: when the callback is enabled
  type: bool
"""
