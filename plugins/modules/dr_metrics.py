#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dr_metrics
short_description: Write the DR metrics into a Prometheus textfile for node_exporter
version_added: 0.1.0
description:
  - Writes backup ages, RPO targets, backup sizes and restore test results into a file that node_exporter's
    textfile collector (C(--collector.textfile.directory)) reads, with the C(prometheus_client) library, which
    writes a temporary file beside it and renames it so that node_exporter never reads half a file.
  - Several playbooks share one file. A metric given in O(samples) replaces every sample of that metric in the
    file; the file's other metrics are kept as they were. The backup and rpo_check playbooks write the backup
    metrics, the restore_test playbook the restore test metrics.
  - The file is made readable by everyone (mode 0644), as node_exporter runs as its own user; it holds no secret.
  - Reports C(changed) only when the file's text changes.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Says whether the file would change; writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  path:
    description:
      - The metrics file, ending in C(.prom), in a directory that exists (node_exporter's textfile directory).
    type: path
    required: true
  samples:
    description:
      - The values to write. Every value is a gauge.
      - C(resilience_dr_backup_age_seconds) (labels C(component), C(site)) - seconds since the newest verified backup
        of the component in the site's repository finished; C(+Inf) when there is none.
      - C(resilience_dr_rpo_target_seconds) (label C(component)) - the component's RPO.
      - C(resilience_dr_backup_size_bytes) (label C(component)) - bytes of the newest verified backup.
      - C(resilience_dr_restore_test_success) (label C(component)) - 1 when the last restore test passed, else 0.
      - C(resilience_dr_restore_test_duration_seconds) (label C(component)) - how long the last restore test took.
    type: list
    elements: dict
    required: true
    suboptions:
      metric:
        description: One of the metric names above.
        type: str
        required: true
      labels:
        description: Exactly the labels the metric has.
        type: dict
        required: true
      value:
        description: A number, or C(+Inf).
        type: raw
        required: true
requirements:
  - prometheus-client
seealso:
  - module: resilience.dr.backup_info
"""

EXAMPLES = r"""
- name: Record the restore test of orders-db for Prometheus
  resilience.dr.dr_metrics:
    path: /var/lib/node_exporter/textfile/resilience_dr.prom
    samples:
      - metric: resilience_dr_restore_test_success
        labels: {component: orders-db}
        value: 1
      - metric: resilience_dr_restore_test_duration_seconds
        labels: {component: orders-db}
        value: 412.7

- name: Record the backup ages that rpo_status worked out
  resilience.dr.dr_metrics:
    path: /var/lib/node_exporter/textfile/resilience_dr.prom
    samples: "{{ (plan_resolved | resilience.dr.rpo_status(backups_per_site)).samples }}"
"""

RETURN = r"""
path:
  description: The metrics file.
  returned: always
  type: str
  sample: /var/lib/node_exporter/textfile/resilience_dr.prom
metrics:
  description: The metrics written (each replaced every earlier sample of the same metric in the file).
  returned: always
  type: list
  elements: str
  sample: [resilience_dr_backup_age_seconds, resilience_dr_rpo_target_seconds]
samples:
  description: How many samples were written.
  returned: always
  type: int
  sample: 7
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils._metrics import write_metrics
from ansible_collections.resilience.dr.plugins.module_utils._module import run_module


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            samples=dict(type="list", elements="dict", required=True, options=dict(
                metric=dict(type="str", required=True),
                labels=dict(type="dict", required=True),
                value=dict(type="raw", required=True),
            )),
        ),
        supports_check_mode=True,
    )
    run_module(module, lambda: write_metrics(module.params["path"], module.params["samples"], module.check_mode))


if __name__ == "__main__":
    main()
