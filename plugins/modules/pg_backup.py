#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_backup
short_description: Back up a PostgreSQL database into the backup repository
version_added: 0.1.0
description:
  - O(method=logical) dumps one database with C(pg_dump) in directory format with O(jobs) parallel
    workers, inside one exported snapshot, and streams each finished file into the repository (zstd,
    optional age encryption, SHA-256) while the dump goes on. C(pg_dump) itself does not compress; the
    repository's zstd is several times faster than its gzip.
  - The roles, memberships and tablespaces (C(pg_dumpall --globals-only)) are stored beside the dump as
    C(globals.sql).
  - The manifest records the server version, its system identifier, the database, the snapshot's time and
    WAL position, and verification data taken inside the same snapshot, the row count of every table and
    a content checksum of every table up to O(checksum_max_bytes), the sequences and the large objects.
    M(resilience.dr.pg_restore) checks a restore against them.
  - Any failing step (C(pg_dump)'s exit status, a broken connection, a full disk, a repository error)
    fails the task with the tool's error output and discards everything written, so no partial backup
    becomes visible.
  - O(method=physical) takes a pgBackRest backup (O(type) full, diff or incr) of the whole cluster
    against O(stanza), creating the stanza if it is missing and running C(pgbackrest check) first (which
    proves WAL archiving works). The data stays in pgBackRest's repository; this collection's repository
    gets a small record of it (label, start/stop WAL positions and times), so that
    M(resilience.dr.backup_info) lists physical backups beside logical ones and
    M(resilience.dr.pg_restore) finds them.
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
    details: Connects, reads the server's identity and the tables (and for pgBackRest its stanza) and
      reports what would be backed up; nothing is written.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  component:
    description:
      - The plan's name for this database; backups are stored under it.
    type: str
    required: true
  compression_level:
    description:
      - zstd compression level, from 1 (fastest) to 19 (smallest).
      - The default is 1, unlike the other backup modules' 3. Level 1 keeps a backup close to the time of
        an uncompressed C(pg_dump), on varied text and on data that compresses poorly (random hex, UUIDs,
        already compressed C(bytea), all dumped as hex); level 3 stores about 10% fewer bytes of text but
        costs twice the CPU there, and on hex three times the CPU for a result no smaller.
      - O(method=physical) uses it only for the small record of the pgBackRest backup; pgBackRest compresses
        its own repository.
    type: int
    default: 1
  db:
    description:
      - Database to back up (O(method=logical)), or to connect to for the checks of O(method=physical).
    type: str
    default: postgres
  method:
    description:
      - C(logical) dumps one database with C(pg_dump); C(physical) backs up the whole cluster with pgBackRest.
    type: str
    choices: [logical, physical]
    default: logical
  jobs:
    description:
      - Parallel C(pg_dump) workers (and connections) for O(method=logical); also the number of threads
        storing files and computing checksums.
    type: int
    default: 2
  checksum_max_bytes:
    description:
      - Tables up to this size get a content checksum in the verification data; larger ones are verified by
        row count only (the result warns which). The checksum is taken from the dumped rows while they are
        stored; the restore reads the table back once to check it.
    type: int
    default: 1073741824
  lock_wait_timeout:
    description:
      - Seconds the backup of O(method=logical) waits for the shared lock of each table before failing, where
        another session holds a table exclusively (a long C(ALTER TABLE), C(VACUUM FULL), C(LOCK TABLE)). Passed
        to C(pg_dump) as C(--lock-wait-timeout) and used for the backup's own lock of the tables, so a backup
        stuck behind such a lock fails with a message instead of holding up every later backup.
      - C(0) waits as long as it takes.
    type: int
    default: 300
  include_globals:
    description:
      - Store the roles, memberships and tablespaces (C(pg_dumpall --globals-only)) beside the dump. Their
        passwords are included only when O(login_user) is a superuser.
    type: bool
    default: true
  type:
    description:
      - pgBackRest backup type for O(method=physical).
    type: str
    choices: [full, diff, incr]
    default: full
  stanza:
    description:
      - pgBackRest stanza of the cluster (required for O(method=physical)).
    type: str
  pgbackrest_config:
    description:
      - pgBackRest configuration file (C(--config)); the default is pgBackRest's own.
    type: path
  pgbackrest_repos:
    description:
      - pgBackRest repositories (the numbers N of C(repoN) in its configuration) to back up into, one
        C(pgbackrest backup --repo=N) each (O(method=physical)); WAL is archived into every repository anyway.
      - The default is every repository the configuration lists (typically one per site), so the loss of a
        site leaves a complete backup in another. Each must be reachable; while a site is lost, name the
        surviving repositories here.
    type: list
    elements: int
  os_user:
    description:
      - Operating-system user pgBackRest runs as (the owner of the data directory). When the task runs as
        root, pgBackRest is started as this user.
    type: str
    default: postgres
notes:
  - Temporary disk for O(method=logical), in O(temp_dir), is what C(pg_dump) has written but the repository has
    not yet stored. Each file is stored and deleted as soon as C(pg_dump) closes it, so with a repository as fast
    as the database this is about the size of the O(jobs) largest tables uncompressed; at worst (a very slow
    repository) it is the uncompressed size of the whole dump.
requirements:
  - psycopg2
  - pg_dump and pg_dumpall of the server's major version or newer (O(method=logical))
  - pgBackRest (O(method=physical))
seealso:
  - module: resilience.dr.pg_restore
  - module: resilience.dr.pg_rpo_info
  - module: resilience.dr.backup_info
"""

EXAMPLES = r"""
- name: Back up orders-db before the schema migration, pinned so retention keeps it
  resilience.dr.pg_backup:
    repository: s3://acme-dr-backups/prod
    component: orders-db
    db: orders
    login_host: db1.internal
    login_user: backup
    login_password: "{{ vault_pg_backup_password }}"
    encryption_recipients: "{{ dr_age_recipients }}"
    retention_class: pinned
    jobs: 4
  register: orders_backup

- name: Take the nightly full pgBackRest backup of the primary cluster
  resilience.dr.pg_backup:
    repository: /srv/backups
    component: orders-cluster
    method: physical
    type: full
    stanza: main
    login_unix_socket: /var/run/postgresql
  become: true
"""

RETURN = r"""
backup_id:
  description: Id of the new backup in the repository (null in check mode).
  returned: always
  type: str
  sample: 20261123T040000Z-k3f9ab
component:
  description: The component backed up.
  returned: always
  type: str
method:
  description: C(logical) or C(physical).
  returned: always
  type: str
database:
  description: The database dumped (O(method=logical)).
  returned: always
  type: str
server:
  description: host:port (or socket) of the server.
  returned: always
  type: str
server_version:
  description: PostgreSQL version of the server.
  returned: always
  type: str
  sample: "15.8"
system_identifier:
  description: The cluster's system identifier (identifies the cluster a backup came from).
  returned: always
  type: str
consistency_point:
  description: What the backup holds; C(time) and C(lsn) of the snapshot (logical) or the pgBackRest C(label),
    C(start_lsn), C(stop_lsn), C(start_time) and C(time) of the stop (physical).
  returned: success, not in check mode
  type: dict
  sample: {"time": "2026-11-23T04:00:01.204Z", "lsn": "0/3000060"}
tables:
  description: Number of user tables in the database.
  returned: O(method=logical)
  type: int
tables_without_checksum:
  description: Tables larger than O(checksum_max_bytes), verified by row count only.
  returned: O(method=logical)
  type: list
  elements: str
database_size:
  description: Size of the database on the server in bytes.
  returned: O(method=logical)
  type: int
rows:
  description: Rows in all tables (from the verification data).
  returned: O(method=logical), not in check mode
  type: int
checksummed_tables:
  description: Tables with a content checksum.
  returned: O(method=logical), not in check mode
  type: int
large_objects:
  description: Large objects in the database.
  returned: O(method=logical), not in check mode
  type: int
dump_size:
  description: Uncompressed size of the dump files.
  returned: O(method=logical), not in check mode
  type: int
size:
  description: Bytes stored in the repository (compressed, encrypted).
  returned: success, not in check mode
  type: int
content_size:
  description: Bytes of content before compression.
  returned: success, not in check mode
  type: int
files:
  description: Files in the backup.
  returned: success, not in check mode
  type: int
label:
  description: pgBackRest backup label.
  returned: O(method=physical), not in check mode
  type: str
  sample: 20261123-040000F
pgbackrest_repos:
  description: The pgBackRest repositories backed up into (or that would be, in check mode), in order.
  returned: O(method=physical)
  type: list
  elements: int
  sample: [1, 2]
pgbackrest_backups:
  description:
    - The pgBackRest backup taken in each repository (C(repo), C(label), C(type), C(start_time), C(stop_time),
      C(start_lsn), C(stop_lsn), WAL range and sizes); a restore from repository N uses that repository's label.
  returned: O(method=physical), not in check mode
  type: list
  elements: dict
stanza:
  description: The pgBackRest stanza.
  returned: O(method=physical)
  type: str
stanza_created:
  description: Whether the stanza was created by this run (or would be, in check mode).
  returned: O(method=physical)
  type: bool
executed_commands:
  description: External commands run, without secrets.
  returned: success, not in check mode
  type: list
  elements: str
"""

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._postgres import connection as _postgres
from ansible_collections.resilience.dr.plugins.module_utils._postgres.logical_backup import DEFAULT_COMPRESSION_LEVEL, logical_backup
from ansible_collections.resilience.dr.plugins.module_utils._postgres.physical_backup import physical_backup
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository_module import RepositoryModule


def main() -> None:
    module = RepositoryModule(
        dict(
            _postgres.postgres_connection_argument_spec(),
            **_postgres.postgres_tools_argument_spec(),
            component=dict(type="str", required=True),
            db=dict(type="str", default="postgres"),
            method=dict(type="str", choices=["logical", "physical"], default="logical"),
            jobs=dict(type="int", default=2),
            checksum_max_bytes=dict(type="int", default=1024 ** 3),
            include_globals=dict(type="bool", default=True),
            lock_wait_timeout=dict(type="int", default=300),
            type=dict(type="str", choices=["full", "diff", "incr"], default="full"),
            stanza=dict(type="str"),
            pgbackrest_config=dict(type="path"),
            pgbackrest_repos=dict(type="list", elements="int"),
            os_user=dict(type="str", default="postgres"),
            compression_level=dict(type="int", default=DEFAULT_COMPRESSION_LEVEL),
        ),
        uses=("lock", "backup"),
        requires=[_postgres.require_psycopg2],
        required_if=[("method", "physical", ("stanza",))],
    )
    params = module.params
    connection = _postgres.ConnectionParams.from_params(params)

    def work(repository: Repository) -> dict[str, t.Any]:
        if params["method"] == "physical":
            return physical_backup(
                repository, connection, component=params["component"], database=params["db"],
                stanza=params["stanza"], backup_type=params["type"], config=params["pgbackrest_config"],
                os_user=params["os_user"], repos=params["pgbackrest_repos"], retention_class=params["retention_class"],
                check_mode=module.check_mode,
            )
        return logical_backup(
            repository, connection, component=params["component"], database=params["db"], jobs=params["jobs"],
            checksum_max_bytes=params["checksum_max_bytes"], include_globals=params["include_globals"],
            pg_bin_dir=params["pg_bin_dir"], temp_dir=params["temp_dir"],
            retention_class=params["retention_class"], lock_wait_timeout=params["lock_wait_timeout"],
            check_mode=module.check_mode,
        )

    module.run(work)


if __name__ == "__main__":
    main()
