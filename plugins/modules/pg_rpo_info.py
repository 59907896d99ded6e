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
  - With pgBackRest archiving (O(stanza), or an C(archive_command) that runs C(pgbackrest archive-push)),
    also each pgBackRest repository of the stanza (RV(repositories)) - typically one per site - with its newest
    archived WAL segment, when it arrived there, the RPO exposure that repository alone leaves, and whether
    it can be read at all (RV(unreachable_repositories)); a lost site shows as its repository being unreachable.
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
  stanza:
    description:
      - pgBackRest stanza of the cluster, to report its repositories (RV(repositories)).
      - The default is the C(--stanza) of the cluster's C(archive_command) when that runs C(pgbackrest); the
        repositories are then reported when they can be read from this host, else a warning says why not.
    type: str
  pgbackrest_config:
    description:
      - pgBackRest configuration file (C(--config)). The default is the one in the cluster's C(archive_command),
        else pgBackRest's own.
    type: path
  os_user:
    description:
      - Operating-system user that runs C(pgbackrest) (the owner of the cluster's files).
    type: str
    default: postgres
requirements:
  - psycopg2
  - pgBackRest, for RV(repositories)
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

- name: Check that the secondary site's pgBackRest repository still receives the WAL of orders
  resilience.dr.pg_rpo_info:
    login_unix_socket: /var/run/postgresql
    stanza: orders
    pgbackrest_config: /etc/pgbackrest/pgbackrest.conf
  become: true
  register: orders_repos

- name: Stop when a repository is lost or more than 60 seconds behind
  ansible.builtin.assert:
    that:
      - orders_repos.unreachable_repositories == []
      - orders_repos.repositories | map(attribute='rpo_seconds') | select('none') | list == []
      - orders_repos.repositories | map(attribute='rpo_seconds') | max <= 60
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
pgbackrest_stanza:
  description: The pgBackRest stanza whose repositories are reported, or null.
  returned: always
  type: str
  sample: orders
repositories:
  description:
    - Each pgBackRest repository of the stanza (repo1, repo2, ... of its configuration), empty without pgBackRest.
    - C(repo) the number N of C(repoN); C(state) one of C(ok), C(no_backups), C(missing) (the repository or the
      stanza in it is gone), C(unreachable), C(inconsistent), C(database_mismatch), C(busy) or C(error), with
      pgBackRest's C(status) message and C(status_code); C(available) whether it can be read for restores and
      C(unreachable) its negation.
    - C(newest_wal) and C(oldest_wal) the archived WAL segments it holds, C(newest_wal_time) when the newest
      arrived there (UTC), C(archive_id), C(rpo_seconds) and C(unarchived_bytes) the exposure if only this
      repository survived, C(behind) whether it lacks segments the cluster counts as archived.
    - C(backups), C(newest_backup) (label) and C(newest_backup_time) of the pgBackRest backups in it.
  returned: always
  type: list
  elements: dict
  sample:
    - {repo: 1, state: missing, status: missing stanza path, status_code: 1, available: false, unreachable: true,
       newest_wal: null, newest_wal_time: null, rpo_seconds: null, backups: 0}
    - {repo: 2, state: ok, status: ok, status_code: 0, available: true, unreachable: false,
       newest_wal: 00000001000000000000002A, newest_wal_time: "2026-11-23T04:12:07Z", rpo_seconds: 4,
       unarchived_bytes: 4096, behind: false, backups: 2, newest_backup: 20261123-040000F}
unreachable_repositories:
  description: Numbers of the pgBackRest repositories that cannot be read (lost site, missing stanza).
  returned: always
  type: list
  elements: int
  sample: [1]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils._module import require_libraries, run_module
from ansible_collections.resilience.dr.plugins.module_utils._postgres import connection as _postgres
from ansible_collections.resilience.dr.plugins.module_utils._postgres.rpo import rpo_info
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository


def main() -> None:
    argument_spec = _postgres.postgres_connection_argument_spec()
    argument_spec.update(
        db=dict(type="str", default="postgres"),
        repository=dict(type="str"),
        component=dict(type="str"),
        stanza=dict(type="str"),
        pgbackrest_config=dict(type="path"),
        os_user=dict(type="str", default="postgres"),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_together=[("repository", "component")],
        supports_check_mode=True,
    )
    require_libraries(module, _postgres.require_psycopg2)
    params = module.params
    connection = _postgres.ConnectionParams.from_params(params)
    run_module(module, lambda: rpo_info(
        connection, database=params["db"],
        repository=open_repository({"repository": params["repository"]}) if params["repository"] else None,
        component=params["component"], stanza=params["stanza"], pgbackrest_config=params["pgbackrest_config"],
        os_user=params["os_user"],
    ))


if __name__ == "__main__":
    main()
