#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_restore
short_description: Restore a Redis server from a backup in the repository, verified
version_added: 0.1.0
description:
  - Restores the backup O(backup_id) of O(component), by default the newest verified (else the newest complete)
    backup taken with O(method), and verifies the server against the key counts and sampled key digests recorded at
    backup time.
  - With O(method=rdb) the snapshot is first copied out of the repository and checked into a staging directory
    beside the data files; only then is the server stopped (O(service), or O(stop_command) and O(start_command)), the
    current data files moved aside, the snapshot put in place (as the base of a fresh append-only directory when AOF
    is on), and the server started. When it does not start, does not finish loading or fails verification, the
    previous files are put back, the server is started on them, and the task fails saying so. The previous files
    are removed only after verification passed. The task must run on the Redis host.
  - With O(method=online) the keys are restored into the running server with pipelined C(RESTORE), expiry times
    kept (a key whose expiry passed since the backup is not restored). The whole dump is read and checked before the
    server is touched. A server holding keys is refused unless O(flush=true) (empty it first) or O(replace=true)
    (overwrite keys of the same name, keep the others).
  - When the server already holds the backup's data, nothing is done and the result is unchanged. With
    O(method=online) that means every key of the dump has the recorded value and expiry (and, without O(replace),
    no other keys exist); the key counts and sampled values are compared first and the whole dump only when they
    match. An RDB backup keeps no per-key records, so with O(method=rdb) same key counts per database and equal
    sampled keys decide.
  - O(validate_certs) applies to the TLS connections to the Redis server and to the S3 endpoint.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.redis
  - resilience.dr.repository
attributes:
  check_mode:
    support: full
    details: Chooses the backup, reads its verification data, compares the server with it and reports whether a
      restore would change it (and refuses what a real run would refuse); the server and its files are not touched.
  diff_mode:
    support: partial
    details: Key counts per database before and after (as recorded in the backup), when the server answers.
  platform:
    platforms: posix
options:
  component:
    description:
      - The plan's name for the Redis server whose backup to restore.
    type: str
    required: true
  backup_id:
    description:
      - The backup to restore. Default is the newest verified backup of O(component) taken with O(method), else the
        newest complete one (consistent at or before O(target_time), when given).
      - Excludes O(target_time).
    type: str
  target_time:
    description:
      - Restore the newest verified (else complete) backup of O(component) taken with O(method) whose consistency point (RV(consistency_point))
        is at or before this time, such as the last moment the data was known to be right. ISO 8601, such as
        C(2026-11-23T04:00:00Z) or C(2026-11-23 06:00:00+02:00); a time without a zone is UTC.
      - Backups after it are left alone. When no backup is that old the task fails naming the oldest and newest
        points there are, and nothing is touched; it never falls back to another backup.
      - Excludes O(backup_id).
    type: str
  method:
    description:
      - C(rdb) swaps the snapshot in with the server stopped; C(online) restores keys into the running server.
      - The backup must have been taken with the same method. Default is the method of O(backup_id), else C(rdb).
    type: str
    choices: [rdb, online]
  flush:
    description:
      - With O(method=online), empty every database of the server (C(FLUSHALL)) before restoring, after the backup
        was read and checked.
    type: bool
    default: false
  replace:
    description:
      - With O(method=online), overwrite keys that exist (C(RESTORE ... REPLACE)) and keep keys the backup does not
        have; key counts are then checked as a lower bound.
    type: bool
    default: false
  service:
    description:
      - systemd unit of the Redis server, stopped and started with C(systemctl) for O(method=rdb).
      - Mutually exclusive with O(stop_command) and O(start_command).
    type: str
  stop_command:
    description:
      - Command that stops the server and returns once it stopped (an argument list; no shell runs it), for
        O(method=rdb). It must succeed when the server is already stopped.
    type: list
    elements: str
  start_command:
    description:
      - Command that starts the server (an argument list), for O(method=rdb).
    type: list
    elements: str
  data_dir:
    description:
      - The server's data directory, needed for O(method=rdb) only when the server is down (it is asked with
        C(CONFIG GET dir) otherwise). When the server is down, AOF counts as on if C(appendonlydir) exists there.
    type: path
  dbfilename:
    description:
      - Name of the RDB file in O(data_dir) when the server is down.
    type: str
    default: dump.rdb
  start_timeout:
    description:
      - Seconds to wait for the server to start and load the data.
    type: int
    default: 300
requirements:
  - redis (the Python library)
  - zstandard
  - pyrage (for encrypted backups)
  - boto3 (for s3:// repositories)
seealso:
  - module: resilience.dr.redis_backup
  - module: resilience.dr.backup_info
"""

EXAMPLES = r"""
- name: Restore the sessions cache from its newest verified snapshot
  resilience.dr.redis_restore:
    component: sessions-cache
    login_password: "{{ vault_redis_password }}"
    service: redis-server
    repository: s3://acme-dr-backups/prod
    encryption_identity: "{{ lookup('amazon.aws.secretsmanager_secret', 'dr/age-identity') }}"
  delegate_to: cache1.internal

- name: Restore the snapshot of 04:00 into a server that crashed (it does not answer, so name its directory)
  resilience.dr.redis_restore:
    component: sessions-cache
    backup_id: 20261123T040000Z-k3f9ab
    login_password: "{{ vault_redis_password }}"
    data_dir: /var/lib/redis
    stop_command: [/usr/local/bin/redis-ctl, stop]
    start_command: [/usr/local/bin/redis-ctl, start]
    repository: /srv/backups

- name: Put the sessions cache back to how it was before the bad deploy of 04:10
  resilience.dr.redis_restore:
    component: sessions-cache
    target_time: "2026-11-23T04:10:00Z"
    login_password: "{{ vault_redis_password }}"
    service: redis-server
    repository: /srv/backups

- name: Load the rate limits back into the managed Redis, emptying it first
  resilience.dr.redis_restore:
    component: rate-limits
    method: online
    flush: true
    login_host: master.rate-limits.abc123.use1.cache.amazonaws.com
    login_user: restore
    login_password: "{{ vault_redis_restore_password }}"
    tls: true
    repository: /srv/backups
"""

RETURN = r"""
backup_id:
  description: The backup restored (or that the server already holds).
  returned: always
  type: str
  sample: 20261123T040000Z-k3f9ab
component:
  description: The component restored.
  returned: always
  type: str
method:
  description: C(rdb) or C(online).
  returned: always
  type: str
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
    - The moment the restored data is from, as the backup recorded it (C(time), in ISO 8601 UTC). In check mode, that
      of the backup a restore would take.
  returned: always
  type: dict
  sample: {time: "2026-11-23T04:00:01Z", lastsave: 1795406401}
databases:
  description: Keys and keys with a TTL per database after the restore.
  returned: when restored
  type: dict
  sample: {"0": {keys: 60000, expires: 6000}}
verified:
  description: Whether the restored server matched the backup's key counts and sampled digests (always true on success).
  returned: when restored
  type: bool
restored_keys:
  description: Keys sent with C(RESTORE) per database (O(method=online)).
  returned: when restored online
  type: dict
data_dir:
  description: The data directory the snapshot was put into (O(method=rdb)).
  returned: when changed with method rdb
  type: str
server_was_running:
  description: Whether the server answered before the restore (O(method=rdb)).
  returned: when changed with method rdb
  type: bool
executed_commands:
  description: Commands run to stop and start the server.
  returned: always
  type: list
  elements: str
drift:
  description: With O(method=online), the first keys (up to five) whose value or expiry differ from the dump,
    when key counts and samples matched but the data did not, so the backup was restored again.
  returned: when the server held the backup's key counts and samples but not all of its keys
  type: list
  elements: str
  sample: ["db0 key b'session:42' has another value"]
msg:
  description: Why nothing was done, when the server already holds the backup's data.
  returned: when unchanged
  type: str
"""

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget, connection_argument_spec
from ansible_collections.resilience.dr.plugins.module_utils._redis.restore import redis_restore
from ansible_collections.resilience.dr.plugins.module_utils._redis.service import Service, split_command
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import IDENTITY_MUTUALLY_EXCLUSIVE
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository_module import RepositoryModule


def main() -> None:
    module = RepositoryModule(
        dict(
            connection_argument_spec(),
            component=dict(type="str", required=True),
            backup_id=dict(type="str"),
            target_time=dict(type="str"),
            method=dict(type="str", choices=["rdb", "online"]),
            flush=dict(type="bool", default=False),
            replace=dict(type="bool", default=False),
            service=dict(type="str"),
            stop_command=dict(type="list", elements="str"),
            start_command=dict(type="list", elements="str"),
            data_dir=dict(type="path"),
            dbfilename=dict(type="str", default="dump.rdb"),
            start_timeout=dict(type="int", default=300),
        ),
        uses=("identity", "signatures"),
        mutually_exclusive=IDENTITY_MUTUALLY_EXCLUSIVE + [("service", "stop_command"), ("service", "start_command"),
                                                          ("backup_id", "target_time")],
        required_together=[("stop_command", "start_command")],
    )
    params = module.params
    runner = module.command_runner()

    def work(repository: Repository) -> dict[str, t.Any]:
        service = None
        if params["service"] or params["stop_command"]:
            service = Service(runner, service=params["service"],
                              stop_command=split_command(params["stop_command"], "stop_command"),
                              start_command=split_command(params["start_command"], "start_command"))
        return redis_restore(
            repository, RedisTarget.from_params(params), runner,
            component=params["component"], backup_id=params["backup_id"], target_time=params["target_time"],
            method=params["method"],
            flush=params["flush"], replace=params["replace"], data_dir=params["data_dir"],
            dbfilename=params["dbfilename"], service=service, start_timeout=params["start_timeout"],
            check_mode=module.check_mode,
        )

    module.run(work)


if __name__ == "__main__":
    main()
