#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_rpo_info
short_description: Report how much data a PostgreSQL cluster with WAL archiving would lose right now
version_added: 0.1.0
description:
  - Reads C(pg_stat_archiver) and the current WAL position of a cluster with WAL archiving and reports the
    last archived WAL segment and when it was archived, archive failures, and the current RPO exposure
    (RV(rpo_seconds)).
  - The exposure is 0 when nothing was written after the last archived segment, else the seconds since that
    segment was archived. RV(archive_failing) is true when the newest archive attempt failed; the exposure then
    grows until archiving works again.
  - With O(repository) and O(component), also the newest usable backup of the component and its age.
  - Feeds the RPO gate of M(resilience.dr.dns_failover) (its O(resilience.dr.dns_failover#module:rpo_seconds) option)
    and the drill report.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.postgres
attributes:
  check_mode:
    support: full
    details: Reads only; the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  db:
    description:
      - Database to connect to.
    type: str
    default: postgres
  repository:
    description:
      - Backup repository to look for the newest backup of O(component) in (a directory or C(s3://bucket/prefix)).
        The S3 connection comes from the environment or the AWS profile.
    type: str
  component:
    description:
      - Component whose newest backup to report (with O(repository)).
    type: str
requirements:
  - psycopg2
seealso:
  - module: resilience.dr.pg_backup
  - module: resilience.dr.dns_failover
"""

EXAMPLES = r"""
- name: Measure the RPO exposure of the primary before failing over
  resilience.dr.pg_rpo_info:
    login_host: db1.internal
    login_user: monitor
    login_password: "{{ vault_pg_monitor_password }}"
    repository: s3://acme-dr-backups/prod
    component: orders-db
  register: orders_rpo

- name: Stop here if more than 15 minutes of orders would be lost
  ansible.builtin.assert:
    that:
      - not orders_rpo.archive_failing
      - orders_rpo.rpo_seconds is not none and orders_rpo.rpo_seconds <= 900
    fail_msg: "WAL archiving is {{ orders_rpo.rpo_seconds }} s behind (last archived {{ orders_rpo.last_archived_wal }})"
"""

RETURN = r"""
rpo_seconds:
  description: Current RPO exposure in seconds; null when the cluster never archived a segment or is a standby.
  returned: always
  type: int
  sample: 7
unarchived_bytes:
  description: Bytes of WAL written after the last archived segment.
  returned: always
  type: int
archive_failing:
  description: Whether the newest archive attempt failed (no success after it).
  returned: always
  type: bool
last_archived_wal:
  description: Name of the last WAL segment archived.
  returned: always
  type: str
  sample: 000000010000000000000042
last_archived_time:
  description: When it was archived (UTC).
  returned: always
  type: str
archived_count:
  description: Segments archived since RV(stats_reset).
  returned: always
  type: int
failed_count:
  description: Failed archive attempts since RV(stats_reset).
  returned: always
  type: int
last_failed_wal:
  description: The segment of the last failed attempt.
  returned: always
  type: str
last_failed_time:
  description: When the last attempt failed.
  returned: always
  type: str
stats_reset:
  description: When the archiver statistics were last reset.
  returned: always
  type: str
current_lsn:
  description: The current WAL write position.
  returned: always
  type: str
current_wal:
  description: The WAL segment being written.
  returned: always
  type: str
archive_mode:
  description: The server's archive_mode.
  returned: always
  type: str
archive_timeout:
  description: The server's archive_timeout (an upper bound of the exposure while archiving works).
  returned: always
  type: str
in_recovery:
  description: Whether the server is a standby.
  returned: always
  type: bool
checked_at:
  description: Server time of the measurement.
  returned: always
  type: str
server:
  description: host:port of the server.
  returned: always
  type: str
system_identifier:
  description: The cluster's system identifier.
  returned: always
  type: str
newest_backup:
  description: The newest usable backup of O(component) (backup_id, method, status, finished_at, consistency_point).
  returned: always (null without O(repository))
  type: dict
newest_backup_age_s:
  description: Seconds since that backup finished.
  returned: always (null without O(repository))
  type: int
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.resilience.dr.plugins.module_utils import _postgres
from ansible_collections.resilience.dr.plugins.module_utils._module import run_module
from ansible_collections.resilience.dr.plugins.module_utils._pg_rpo import rpo_info
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository


def main() -> None:
    argument_spec = _postgres.postgres_connection_argument_spec()
    argument_spec.update(
        db=dict(type="str", default="postgres"),
        repository=dict(type="str"),
        component=dict(type="str"),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_together=[("repository", "component")],
        supports_check_mode=True,
    )
    if not _postgres.HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=str(_postgres.PSYCOPG2_IMPORT_ERROR))
    params = module.params
    connection = _postgres.ConnectionParams.from_params(params)
    run_module(module, lambda: rpo_info(
        connection, database=params["db"],
        repository=open_repository({"repository": params["repository"]}) if params["repository"] else None,
        component=params["component"],
    ))


if __name__ == "__main__":
    main()
