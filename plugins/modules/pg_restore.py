#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_restore
short_description: Restore a PostgreSQL backup, verified before it replaces anything
version_added: 0.1.0
description:
  - O(method=logical) restores a M(resilience.dr.pg_backup) logical backup (O(backup_id), or the newest
    verified, else the newest complete backup of O(component), consistent at or before O(target_time) when it is
    given) into O(target_db).
  - The backup is always restored into a new database first (C(<target_db>_restoring_<random>)) with
    O(jobs) parallel C(pg_restore) workers, and compared with the row counts and checksums the backup
    recorded; any difference fails the task naming the table, and the new database is dropped. Only a
    verified copy takes the name O(target_db). A target that already exists is renamed to
    C(<target_db>_before_<time>) (kept unless O(keep_previous=false)); its owner, encoding, locale,
    grants and settings carry over to the new database.
  - A target with user tables is refused unless O(clean=true).
  - O(restore_globals=true) creates the roles (and tablespaces) of the backup that do not exist on the server,
    with their attributes and passwords; existing roles are never changed (their current passwords stay).
  - 'The restored database carries a marker in its comment, C(resilience.dr: restored backup <id> of component
    <c> at <time>). Running the same restore again compares the target with the row counts and checksums of
    the backup; it reports C(changed=false) only when they all match, and restores again when rows changed
    since. O(force=true) restores without comparing.'
  - O(method=physical) restores a pgBackRest backup of the whole cluster into the new data directory
    O(data_dir), to O(target_time), O(target_lsn), O(target_name) or the end of the archived WAL, starts it on
    O(port), waits until recovery ends and the server accepts writes (promoted), and reports the time of the
    last transaction recovered. It runs on the database host; the restored cluster is reached with the
    connection options on O(port).
  - 'Archiving of a physical restore (O(archive_mode)): a copy restored into another data directory runs with
    archiving off, so it never pushes a new timeline into the archive of the cluster it came from. The cluster
    rebuilt in its own data directory (a corrupted data directory restored with O(replace=true)) keeps its
    archiving, and C(pgbackrest check) proves that its new timeline reaches the archive, so point-in-time recovery
    and the next backup keep working. Rebuilding in place also salvages the WAL the replaced directory still
    holds (complete segments not archived yet are pushed to the archive, the segment written last is copied
    into the restored C(pg_wal)), so recovery to the end of the WAL loses nothing that was committed before the
    damage when C(pg_wal) survived.'
  - 'Several pgBackRest repositories (one per site): a physical backup records its label in each. The restore reads
    the repository O(pgbackrest_repo), by default the first one (repo1, repo2, ...) that C(pgbackrest info) can read
    and that holds the backup, so a restore after the loss of a site (and of its repository) needs no change of
    configuration. The recovery fetches WAL with C(archive-get) from every repository in turn, whichever survived.'
  - 'Warm standby: O(standby=true) restores the backup as a standby (C(pgbackrest restore --type=standby)) and leaves
    it running in recovery, replaying the archived WAL as it arrives. A standby of the stanza already running in
    O(data_dir) is left alone (C(changed=false)); a stopped one is started. O(promote=true) promotes the standby
    running (or stopped) in O(data_dir) - it first replays every WAL segment the repositories hold - and waits until
    it accepts writes; a cluster already promoted there is left alone, and with no standby there it restores
    from the backup as without O(promote).'

author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.postgres
  - resilience.dr.postgres.tools
  - resilience.dr.repository
attributes:
  check_mode:
    support: full
    details: Chooses the backup, reads its verification data (proving the key works), inspects the target and
      reports what would be restored from which backup; nothing changes.
  diff_mode:
    support: full
    details: Shows the target before and after in summary (exists, tables, rows, restored backup id).
  platform:
    platforms: posix
options:
  component:
    description:
      - Component whose backup to restore.
    type: str
    required: true
  backup_id:
    description:
      - The backup to restore. The default is the newest verified backup of O(component), else its newest
        complete one (of the O(method) asked for, consistent at or before O(target_time) when it is given).
      - Excludes O(target_time).
    type: str
  method:
    description:
      - C(logical) restores a C(pg_dump) backup into a database; C(physical) restores a pgBackRest backup of
        the cluster into a new data directory.
    type: str
    choices: [logical, physical]
    default: logical
  db:
    description:
      - Database to connect to for creating, renaming and dropping databases (O(method=logical)).
    type: str
    default: postgres
  target_db:
    description:
      - Database to restore into. The default is the database the backup was taken from.
    type: str
  clean:
    description:
      - Replace a target that has user tables. The old database is swapped out only after the new one is
        restored and verified.
    type: bool
    default: false
  keep_previous:
    description:
      - Keep the replaced database as C(<target_db>_before_<time>) (returned as RV(previous_db)).
    type: bool
    default: true
  restore_globals:
    description:
      - Create the roles and tablespaces of the backup that are missing on the server before restoring.
    type: bool
    default: true
  force:
    description:
      - Restore even when the target already holds this backup and still matches it.
    type: bool
    default: false
  jobs:
    description:
      - Parallel C(pg_restore) workers, and threads fetching files and checking tables.
    type: int
    default: 2
  stanza:
    description:
      - pgBackRest stanza (O(method=physical)). The default is the stanza recorded in the backup.
    type: str
  pgbackrest_config:
    description:
      - pgBackRest configuration file (C(--config)). The default is the one recorded in the backup, else
        pgBackRest's own.
    type: path
  os_user:
    description:
      - Operating-system user that owns and runs the restored cluster.
    type: str
    default: postgres
  data_dir:
    description:
      - Data directory to restore into (O(method=physical)). It must not exist or be empty, unless O(replace=true).
    type: path
  port:
    description:
      - Port the restored cluster listens on (O(method=physical)). It must differ from a cluster still running.
    type: int
  target_time:
    description:
      - The point in time to restore, such as the last moment the data was known to be right. ISO 8601, such as
        C(2026-11-23T04:12:00Z) or C(2026-11-23 04:12:00+00); a time without a zone is UTC.
      - With O(method=logical), the newest verified (else complete) logical backup whose consistency point
        (RV(consistency_point)) is at or before this time is restored; backups after it are left alone.
      - With O(method=physical), the newest physical backup that ended at or before this time is restored and
        recovered up to the time itself; transactions committed after it are not recovered.
      - When no backup is that old the task fails naming the oldest and newest points there are, and nothing is
        touched; it never falls back to another backup. Excludes O(backup_id).
    type: str
  target_lsn:
    description:
      - Recover up to this WAL position (O(method=physical)).
    type: str
  target_name:
    description:
      - Recover up to this restore point (C(pg_create_restore_point)) (O(method=physical)).
    type: str
  replace:
    description:
      - Allow O(data_dir) to be a directory with files (O(method=physical)). The directory is moved aside to
        C(<data_dir>.before-<time>) (returned as RV(previous_data_dir)), never deleted. The cluster using it
        must be stopped first.
    type: bool
    default: false
  archive_mode:
    description:
      - WAL archiving of the restored cluster (O(method=physical)), as C(pgbackrest restore --archive-mode).
      - V(auto) keeps archiving when O(data_dir) is the data directory the backup was taken from (the cluster
        itself is rebuilt) and turns it off for a copy restored elsewhere.
      - V(preserve) keeps the archiving the restored configuration sets, and checks it with C(pgbackrest check).
      - V(off) turns it off in the restored cluster (C(archive_mode = off) in its C(postgresql.auto.conf)).
    type: str
    choices: [auto, preserve, "off"]
    default: auto
  wait_timeout:
    description:
      - Seconds to wait for the restored cluster to finish recovery (O(method=physical)).
    type: int
    default: 600
  pgbackrest_repo:
    description:
      - pgBackRest repository to restore from (O(method=physical)), the number N of C(repoN) in its configuration
        (C(pgbackrest restore --repo=N)).
      - The default is the first repository that can be read and holds the backup (returned as RV(pgbackrest_repo)).
    type: int
  standby:
    description:
      - Restore as a warm standby (O(method=physical)) that keeps replaying the archived WAL, instead of a cluster
        recovered and promoted. It cannot take O(target_time), O(target_lsn) or O(target_name).
    type: bool
    default: false
  promote:
    description:
      - Promote the standby of the stanza in O(data_dir) (O(method=physical)); restore from the backup when
        O(data_dir) holds no standby. It cannot take O(target_time), O(target_lsn) or O(target_name).
    type: bool
    default: false
notes:
  - Temporary disk for O(method=logical), in O(temp_dir), is the uncompressed size of the dump's small files (table data files under 4 MiB,
    the table of contents, large objects); the larger data files are fed to C(pg_restore) through named pipes as they are read from the
    repository and never written to disk. They are removed as soon as C(pg_restore) has read them.
  - The server needs room for the new database beside the old one until the swap.
requirements:
  - psycopg2
  - pg_restore of the backup's major version or newer (O(method=logical))
  - pgBackRest and the PostgreSQL server binaries (O(method=physical))
seealso:
  - module: resilience.dr.pg_backup
  - module: resilience.dr.backup_info
"""

EXAMPLES = r"""
- name: Restore orders-db from the newest verified backup, replacing the broken database
  resilience.dr.pg_restore:
    repository: s3://acme-dr-backups/prod
    component: orders-db
    target_db: orders
    clean: true
    login_host: db1.internal
    login_user: postgres
    login_password: "{{ vault_pg_admin_password }}"
    encryption_identity: "{{ lookup('amazon.aws.secretsmanager_secret', 'dr/age-identity') }}"
  register: restored

- name: Restore a named backup into a scratch database for the daily restore test
  resilience.dr.pg_restore:
    repository: /srv/backups
    component: orders-db
    backup_id: 20261123T040000Z-k3f9ab
    target_db: orders_restore_test
    encryption_identity_file: /etc/dr/age-identity.txt
    login_unix_socket: /var/run/postgresql

- name: Put orders back to the newest logical backup from before the bad migration of 10:41
  resilience.dr.pg_restore:
    repository: /srv/backups
    component: orders-db
    target_time: "2026-11-23T10:41:00Z"
    target_db: orders
    clean: true
    login_unix_socket: /var/run/postgresql
    encryption_identity_file: /etc/dr/age-identity.txt

- name: Recover the cluster to just before the bad migration, into a new data directory
  resilience.dr.pg_restore:
    repository: /srv/backups
    component: orders-cluster
    method: physical
    data_dir: /var/lib/postgresql/15/recovered
    port: 5433
    target_time: "2026-11-23 10:41:00+00"
  become: true

- name: Keep a warm standby of orders on the secondary site, replaying WAL from the pgBackRest repositories
  resilience.dr.pg_restore:
    repository: /srv/backups
    component: orders-cluster
    method: physical
    data_dir: /var/lib/postgresql/15/standby
    port: 5433
    standby: true
  become: true

- name: The primary site is lost - promote the standby (or restore from scratch when there is none)
  resilience.dr.pg_restore:
    repository: /srv/backups
    component: orders-cluster
    method: physical
    data_dir: /var/lib/postgresql/15/standby
    port: 5433
    promote: true
  become: true

- name: Rebuild the corrupted cluster in its own data directory from the end of the archive (archiving stays on)
  resilience.dr.pg_restore:
    repository: /srv/backups
    component: orders-cluster
    method: physical
    data_dir: /var/lib/postgresql/15/main
    port: 5432
    replace: true
  become: true
"""

RETURN = r"""
backup_id:
  description: The backup restored (or that would be, in check mode).
  returned: success
  type: str
  sample: 20261123T040000Z-k3f9ab
component:
  description: The component restored.
  returned: success
  type: str
method:
  description: C(logical) or C(physical).
  returned: success
  type: str
action:
  description:
    - O(method=logical) C(create) (new database), C(replace) (swapped with the old one) or C(none) (already restored).
    - O(method=physical) C(restored) (recovered and promoted), C(standby) (restored as a standby), C(started) (a
      stopped standby started), C(promoted) (a standby promoted) or C(none) (nothing to do).
  returned: success
  type: str
drift:
  description: Why a target that already held this backup was restored again (the first difference found
    against the backup's row counts and checksums).
  returned: O(method=logical), when the target held this backup but its data changed since
  type: str
  sample: "table public.orders has 1000 rows, the backup recorded 1024"
target_db:
  description: The database restored into.
  returned: O(method=logical)
  type: str
previous_db:
  description: Name the replaced database was kept under, or null.
  returned: O(method=logical), when restored
  type: str
restored_db:
  description:
    - The database holding the restored, verified data when the swap into O(target_db) failed (the swap is one
      transaction, so O(target_db) then still holds its previous data).
  returned: O(method=logical), on a failed swap
  type: str
  sample: orders_restoring_3fa9c1
skipped_backups:
  description:
    - Backups newer than the one restored that were passed over because they cannot be restored (invalid,
      incomplete, or failed verification), each with its C(backup_id), C(status) and C(reason). Each also makes a
      warning. Empty when O(backup_id) was given or the newest backup was restored.
  returned: success
  type: list
  elements: dict
  sample: [{backup_id: 20261123T100000Z-a1b2c3, status: failed_verification,
            reason: "failed verification at 2026-11-23T10:30:00Z: file data/toc.dat.zst failed its SHA-256 check"}]
consistency_point:
  description:
    - The point in time the backup holds (from its manifest; C(time) in ISO 8601 UTC). In check mode, that of the
      backup a restore would take.
  returned: success
  type: dict
source:
  description: Where the backup came from (host, database, server version, system identifier).
  returned: success
  type: dict
roles_created:
  description: Roles of the backup created on the server (or that would be).
  returned: O(method=logical)
  type: list
  elements: str
verified:
  description: What was checked against the backup's verification data; tables, rows, checksums,
    sequences, large objects, how many tables were checked while C(pg_restore) was still running
    (C(checked_while_loading)), and how many by the digest of the rows C(pg_restore) loaded and their
    restored row count rather than by reading them back (C(checked_as_loaded), after a restore).
  returned: O(method=logical), when restored or found unchanged
  type: dict
  sample: {"tables": 4, "rows": 100512, "checksums": 4, "sequences": 2, "large_objects": 1, "checked_while_loading": 4,
           "checked_as_loaded": 4}
data_dir:
  description: The restored cluster's data directory.
  returned: O(method=physical)
  type: str
previous_data_dir:
  description: Where the old content of O(data_dir) was moved, or null.
  returned: O(method=physical)
  type: str
port:
  description: Port of the restored cluster.
  returned: O(method=physical)
  type: int
recovery_target:
  description: The recovery target given to pgBackRest (type and value).
  returned: O(method=physical)
  type: dict
recovered_to:
  description: Commit time of the last transaction the restored cluster replayed, or null when it replayed none.
  returned: O(method=physical), when restored
  type: str
archive_mode:
  description: WAL archiving of the restored cluster, V(preserve) (archiving on as configured) or V(off).
  returned: O(method=physical)
  type: str
  sample: preserve
archiving_checked:
  description: Whether C(pgbackrest check) proved that the restored cluster's WAL reaches the archive.
  returned: O(method=physical)
  type: bool
salvaged_wal:
  description: WAL segments of the replaced data directory that the recovery could replay beyond the archive.
  returned: O(method=physical)
  type: list
  elements: str
  sample: [00000001000000000000002A]
label:
  description: pgBackRest backup label restored (the label of the backup in RV(pgbackrest_repo)).
  returned: O(method=physical)
  type: str
pgbackrest_repo:
  description: The pgBackRest repository restored from (or that would be, in check mode), N of C(repoN).
  returned: O(method=physical)
  type: int
  sample: 2
repositories:
  description: What C(pgbackrest info) said of each repository of the stanza when one was chosen (see
    M(resilience.dr.pg_rpo_info) for the keys).
  returned: O(method=physical), when a repository was chosen
  type: list
  elements: dict
standby:
  description: Whether a standby was asked for (O(standby)).
  returned: O(method=physical)
  type: bool
replayed_to:
  description: Commit time of the last transaction the standby has replayed so far, or null.
  returned: O(standby=true)
  type: str
executed_commands:
  description: External commands run, without secrets.
  returned: when restored
  type: list
  elements: str
"""

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._postgres import connection as _postgres
from ansible_collections.resilience.dr.plugins.module_utils._postgres.logical_restore import logical_restore
from ansible_collections.resilience.dr.plugins.module_utils._postgres.physical_restore import physical_restore
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import IDENTITY_MUTUALLY_EXCLUSIVE
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository_module import RepositoryModule


def main() -> None:
    module = RepositoryModule(
        dict(
            _postgres.postgres_connection_argument_spec(),
            **_postgres.postgres_tools_argument_spec(),
            component=dict(type="str", required=True),
            backup_id=dict(type="str"),
            method=dict(type="str", choices=["logical", "physical"], default="logical"),
            db=dict(type="str", default="postgres"),
            target_db=dict(type="str"),
            clean=dict(type="bool", default=False),
            keep_previous=dict(type="bool", default=True),
            restore_globals=dict(type="bool", default=True),
            force=dict(type="bool", default=False),
            jobs=dict(type="int", default=2),
            stanza=dict(type="str"),
            pgbackrest_config=dict(type="path"),
            os_user=dict(type="str", default="postgres"),
            data_dir=dict(type="path"),
            port=dict(type="int"),
            target_time=dict(type="str"),
            target_lsn=dict(type="str"),
            target_name=dict(type="str"),
            replace=dict(type="bool", default=False),
            archive_mode=dict(type="str", choices=["auto", "preserve", "off"], default="auto"),
            wait_timeout=dict(type="int", default=600),
            pgbackrest_repo=dict(type="int"),
            standby=dict(type="bool", default=False),
            promote=dict(type="bool", default=False),
        ),
        uses=("identity", "signatures"),
        requires=[_postgres.require_psycopg2],
        mutually_exclusive=[*IDENTITY_MUTUALLY_EXCLUSIVE, ("target_time", "target_lsn", "target_name"),
                            ("backup_id", "target_time"),
                            ("standby", "promote"), ("standby", "target_time", "target_lsn", "target_name"),
                            ("promote", "target_time", "target_lsn", "target_name")],
        required_if=[("method", "physical", ("data_dir", "port"))],
    )
    params = module.params
    connection = _postgres.ConnectionParams.from_params(params)

    def work(repository: Repository) -> dict[str, t.Any]:
        if params["method"] == "physical":
            return physical_restore(
                repository, connection, component=params["component"], backup_id=params["backup_id"],
                stanza=params["stanza"], config=params["pgbackrest_config"], os_user=params["os_user"],
                data_dir=params["data_dir"], port=params["port"], target_time=params["target_time"],
                target_lsn=params["target_lsn"], target_name=params["target_name"], replace=params["replace"],
                archive_mode=params["archive_mode"], wait_timeout=params["wait_timeout"], pg_bin_dir=params["pg_bin_dir"],
                repo=params["pgbackrest_repo"], standby=params["standby"], promote=params["promote"],
                check_mode=module.check_mode,
            )
        return logical_restore(
            repository, connection, component=params["component"], backup_id=params["backup_id"],
            target_time=params["target_time"], maintenance_db=params["db"], target_db=params["target_db"], clean=params["clean"],
            keep_previous=params["keep_previous"], restore_globals=params["restore_globals"],
            force=params["force"], jobs=params["jobs"], pg_bin_dir=params["pg_bin_dir"],
            temp_dir=params["temp_dir"], check_mode=module.check_mode,
        )

    module.run(work)


if __name__ == "__main__":
    main()
