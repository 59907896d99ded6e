#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_backup
short_description: Back up a Redis server into the backup repository
version_added: 0.1.0
description:
  - With O(method=rdb) (the default) the server writes a fresh RDB snapshot (C(BGSAVE SCHEDULE)); a save already
    running is waited for first, because it started before the backup was asked for. When the new save finished
    successfully (C(INFO persistence)), the snapshot file (found through C(CONFIG GET dir) and C(dbfilename)) is
    streamed into the repository, and with AOF on also the files of the append-only directory (Redis 7 multi-part
    AOF). The task must run on the Redis host (C(delegate_to)), where the data directory is readable.
  - With O(method=online) every key of every database is exported with C(SCAN) and pipelined C(DUMP) and C(PTTL),
    for servers whose files are out of reach (managed Redis). Keys written during the scan may or may not be in the
    backup.
  - The manifest records the server's run id and version, the key count per database and the save time (the
    consistency point). The verification data holds the key counts and the digests of sampled keys (O(sample_keys))
    that M(resilience.dr.redis_restore) checks a restore against.
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
    details: Connects, finds the data files and reports the key counts; no snapshot is taken and nothing is written.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  component:
    description:
      - The plan's name for this Redis server, such as C(sessions-cache); backups are stored under it.
    type: str
    required: true
  method:
    description:
      - C(rdb) stores a fresh snapshot file (and the AOF directory); C(online) exports every key over the connection.
    type: str
    choices: [rdb, online]
    default: rdb
  sample_keys:
    description:
      - Keys per database whose values are digested for the verification of restores (0 records key counts only).
    type: int
    default: 100
  save_timeout:
    description:
      - Seconds to wait for a running save to finish and for the new one to be written.
    type: int
    default: 3600
requirements:
  - redis (the Python library)
  - zstandard
  - pyrage (for encrypted backups)
  - boto3 (for s3:// repositories)
seealso:
  - module: resilience.dr.redis_restore
  - module: resilience.dr.backup_info
"""

EXAMPLES = r"""
- name: Back up the sessions cache (snapshot and AOF) into S3, encrypted to the operations key
  resilience.dr.redis_backup:
    component: sessions-cache
    login_password: "{{ vault_redis_password }}"
    repository: s3://acme-dr-backups/prod
    encryption_recipients:
      - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  delegate_to: cache1.internal

- name: Export the managed Redis key by key (its files are out of reach)
  resilience.dr.redis_backup:
    component: rate-limits
    method: online
    login_host: master.rate-limits.abc123.use1.cache.amazonaws.com
    login_user: backup
    login_password: "{{ vault_redis_backup_password }}"
    tls: true
    repository: /srv/backups
"""

RETURN = r"""
backup_id:
  description: Id of the new backup (null in check mode).
  returned: always
  type: str
  sample: 20261123T040000Z-k3f9ab
component:
  description: The component backed up.
  returned: always
  type: str
method:
  description: C(rdb) or C(online).
  returned: always
  type: str
repository:
  description: The repository written to.
  returned: always
  type: str
source:
  description: The server backed up.
  returned: always
  type: dict
  sample: {run_id: e7e67c396cc87ec435a4b73bd1528faeda71a784, redis_version: 7.0.15, address: "cache1:6379"}
databases:
  description: Keys and keys with a TTL per database number (in the backup; before it in check mode).
  returned: always
  type: dict
  sample: {"0": {keys: 60000, expires: 6000}}
consistency_point:
  description:
    - The moment the data is from. C(rdb) gives the save time (C(lastsave), Unix seconds); C(online) the start of
      the scan (C(scan=true)).
  returned: when a backup was taken
  type: dict
  sample: {time: "2026-11-23T04:00:01Z", lastsave: 1795406401}
files:
  description: Names of the files in the backup.
  returned: when a backup was taken
  type: list
  elements: str
  sample: [aof/appendonly.aof.1.base.rdb, aof/appendonly.aof.manifest, data/dump.rdb, verification.json]
"""

from ansible_collections.resilience.dr.plugins.module_utils._redis.backup import redis_backup
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget, connection_argument_spec
from ansible_collections.resilience.dr.plugins.module_utils._repository_module import RepositoryModule


def main() -> None:
    module = RepositoryModule(
        dict(
            connection_argument_spec(),
            component=dict(type="str", required=True),
            method=dict(type="str", choices=["rdb", "online"], default="rdb"),
            sample_keys=dict(type="int", default=100, no_log=False),
            save_timeout=dict(type="int", default=3600),
        ),
        uses=("lock", "backup"),
    )
    params = module.params
    module.run(lambda repository: redis_backup(
        repository,
        RedisTarget.from_params(params),
        component=params["component"],
        method=params["method"],
        sample_keys=params["sample_keys"],
        save_timeout=params["save_timeout"],
        retention_class=params["retention_class"],
        check_mode=module.check_mode,
    ))


if __name__ == "__main__":
    main()
