# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of the backup repository, shared by every module that reads or writes backups.

Matches plan_repository_argument_spec() in plugins/module_utils/_repository/options.py: every module of the
`repository` action group accepts every option here, whether it uses it or not.
"""

from __future__ import annotations


class ModuleDocFragment:
    # Every repository module: where the repository is and how to reach it (used by all), then the groups
    # identity, lock, backup and signatures (used by some, accepted and ignored by the others).
    DOCUMENTATION = r"""
notes:
  - Every module of the action group C(resilience.dr.repository) (M(resilience.dr.backup_copy),
    M(resilience.dr.backup_info), M(resilience.dr.backup_prune), M(resilience.dr.backup_verify),
    M(resilience.dr.files_backup), M(resilience.dr.files_restore), M(resilience.dr.pg_backup),
    M(resilience.dr.pg_restore), M(resilience.dr.redis_backup), M(resilience.dr.redis_restore)) accepts the
    same repository options, every key of a DR plan's C(repository). A module that does not use an option
    accepts and ignores it (each option says which modules use it), so one C(module_defaults) entry for
    C(group/resilience.dr.repository) can set the whole repository for all of them, as the common AWS options
    of C(amazon.aws) modules do. An ignored option never changes what the module does, and the rules between
    options (O(encryption_identity_file) or O(encryption_identity); O(s3_object_lock_mode) with
    O(s3_object_lock_days)) are checked only by the modules that use them; only its type and choices are checked.
options:
  repository:
    description:
      - The backup repository, a local directory given as an absolute path (C(/srv/backups)) or an S3
        prefix (C(s3://bucket/prefix)).
      - Backups are stored as C(<component>/<backup_id>/) with their data files and a C(manifest.json)
        written last; see C(docs/repository-format.md) for the format and how to restore by hand.
    type: str
    required: true
  endpoint_url:
    description:
      - URL of the S3 API for an C(s3://) repository, for S3-compatible stores or a test server.
        The default is AWS's endpoint for O(region).
    type: str
    aliases: [aws_endpoint_url]
  region:
    description:
      - AWS region of the bucket. The default comes from the environment or the AWS profile.
    type: str
    aliases: [aws_region]
  access_key:
    description:
      - AWS access key id, masked in results like O(secret_key) because a DR plan keeps it secret. The default chain
        of boto3 applies when it is not set (environment, profile, instance role).
      - The connection options take the names and aliases of the C(amazon.aws) modules' options.
    type: str
    aliases: [aws_access_key_id, aws_access_key]
  secret_key:
    description:
      - AWS secret access key that goes with O(access_key).
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
  session_token:
    description:
      - AWS session token of temporary credentials.
    type: str
    aliases: [aws_session_token]
  profile:
    description:
      - Named AWS profile to take credentials and region from.
    type: str
    aliases: [aws_profile]
  validate_certs:
    description:
      - Whether to verify the TLS certificate of the S3 endpoint.
      - Rather than turning this off for an endpoint with a certificate of a private CA, give that CA in
        O(aws_ca_bundle).
    type: bool
    default: true
  aws_ca_bundle:
    description:
      - Path of a PEM file of CA certificates that verify the S3 endpoint's TLS certificate, on the host that
        runs the module, instead of the CA certificates boto3 ships with. Used when O(validate_certs) is on.
      - A file that holds no readable CA certificate fails the task before anything is read or written.
    type: path
  aws_config:
    description:
      - Settings of the botocore client, the keywords of C(botocore.config.Config), for example
        C(connect_timeout), C(read_timeout), C(retries), C(proxies) or C(s3).
      - They are set over the repository's defaults (connect timeout 10 s, read timeout 120 s, standard retry
        mode with 5 attempts). A C(retries) mapping replaces the default one but stays in the standard retry
        mode unless it names another C(mode); an C(s3) mapping is merged over the default (path-style
        addressing when O(endpoint_url) is set).
    type: dict
  s3_sse:
    description:
      - Server-side encryption S3 applies to every object written, as a second layer under age
        encryption.
    type: str
    choices: [AES256, aws:kms]
  s3_sse_kms_key_id:
    description:
      - KMS key (id, ARN or alias) for O(s3_sse=aws:kms). The default is the bucket's AWS managed key.
    type: str
  encryption_identity_file:
    description:
      - Path of an age identity file (the output of C(age-keygen)) holding the secret key that decrypts the
        backups. Needed to restore encrypted backups and to verify that they decrypt.
      - Refused when the file is readable by group or others (mode must be 0600 or stricter).
      - Used by the modules that read what backups hold, that is M(resilience.dr.files_restore), M(resilience.dr.pg_restore),
        M(resilience.dr.redis_restore), M(resilience.dr.backup_verify) and M(resilience.dr.backup_copy) (the source);
        the other repository modules accept and ignore it.
    type: path
  encryption_identity:
    description:
      - The content of an age identity file, for example from a vault or a Secrets Manager lookup.
      - Mutually exclusive with O(encryption_identity_file).
      - Used by the modules that read what backups hold, that is M(resilience.dr.files_restore), M(resilience.dr.pg_restore),
        M(resilience.dr.redis_restore), M(resilience.dr.backup_verify) and M(resilience.dr.backup_copy) (the source);
        the other repository modules accept and ignore it.
    type: str
  lock_timeout:
    description:
      - Seconds to wait for another backup or prune of the same component to finish before failing with a
        message naming its holder (operation, host, pid, since when).
      - Used by the modules that write or delete backups, that is M(resilience.dr.files_backup), M(resilience.dr.pg_backup),
        M(resilience.dr.redis_backup), M(resilience.dr.backup_prune) and M(resilience.dr.backup_copy) (the
        destination); the other repository modules accept and ignore it.
    type: int
    default: 60
  break_stale_lock:
    description:
      - Take over the lock of a component when its holder is gone (its pid no longer runs on this host, or
        its heartbeat is older than 5 minutes).
      - A stale lock is always reported; it is broken only when this is set, after a person checked that no
        backup of the component still runs.
      - Used by the modules that write or delete backups, that is M(resilience.dr.files_backup), M(resilience.dr.pg_backup),
        M(resilience.dr.redis_backup), M(resilience.dr.backup_prune) and M(resilience.dr.backup_copy) (the
        destination); the other repository modules accept and ignore it.
    type: bool
    default: false
  encryption_recipients:
    description:
      - age public keys (C(age1...)) to encrypt the backup to; any one of their secret keys decrypts it
        (for example an operations key and an offline break-glass key).
      - The host taking backups needs only these public keys, so it cannot read old backups.
      - Empty means the data files are not encrypted (S3 server-side encryption may still apply).
      - Used by the backup modules M(resilience.dr.files_backup), M(resilience.dr.pg_backup) and
        M(resilience.dr.redis_backup); the other repository modules accept and ignore it.
    type: list
    elements: str
    default: []
  compression_level:
    description:
      - zstd compression level, from 1 (fastest) to 19 (smallest).
      - Used by the backup modules M(resilience.dr.files_backup), M(resilience.dr.pg_backup) and
        M(resilience.dr.redis_backup); the other repository modules accept and ignore it.
      - M(resilience.dr.pg_backup) defaults to 1 instead (its documentation says why).
    type: int
    default: 3
  compression_threads:
    description:
      - zstd worker threads; 0 uses one per CPU.
      - Used by the backup modules M(resilience.dr.files_backup), M(resilience.dr.pg_backup) and
        M(resilience.dr.redis_backup); the other repository modules accept and ignore it.
    type: int
    default: 0
  retention_class:
    description:
      - C(pinned) backups are never removed by M(resilience.dr.backup_prune) (for example the backup taken
        before a risky migration); C(standard) ones follow the retention rules.
      - Used by the backup modules M(resilience.dr.files_backup), M(resilience.dr.pg_backup) and
        M(resilience.dr.redis_backup); the other repository modules accept and ignore it.
    type: str
    choices: [standard, pinned]
    default: standard
  s3_object_lock_mode:
    description:
      - S3 Object Lock retention mode for the objects of the backup (the bucket must have Object Lock
        enabled). C(COMPLIANCE) cannot be shortened by anyone, C(GOVERNANCE) only with a special permission.
      - Requires O(s3_object_lock_days).
      - Used by the backup modules M(resilience.dr.files_backup), M(resilience.dr.pg_backup) and
        M(resilience.dr.redis_backup), and by M(resilience.dr.backup_copy) for what it writes to the destination;
        the other repository modules accept and ignore it.
    type: str
    choices: [GOVERNANCE, COMPLIANCE]
  s3_object_lock_days:
    description:
      - Days the objects of the backup stay locked against deletion and overwrite.
      - Used by the backup modules M(resilience.dr.files_backup), M(resilience.dr.pg_backup) and
        M(resilience.dr.redis_backup), and by M(resilience.dr.backup_copy) for what it writes to the destination;
        the other repository modules accept and ignore it.
    type: int
  signing_key_file:
    description:
      - Path of an Ed25519 private key that signs the manifest of each backup, as made by
        C(openssl genpkey -algorithm ed25519 -out signing.pem) or C(ssh-keygen -t ed25519 -N '' -f signing).
        The key must not be protected by a passphrase and must be readable by its owner only (mode 0600).
      - The signature goes to C(manifest.json.sig), written before the manifest. Restores given the public key in
        C(signing_public_keys) then refuse backups that anyone else wrote or changed; see C(docs/security.md).
      - Unset, backups are not signed.
      - Used by the backup modules M(resilience.dr.files_backup), M(resilience.dr.pg_backup) and
        M(resilience.dr.redis_backup), and by M(resilience.dr.backup_copy) for what it writes to the destination;
        the other repository modules accept and ignore it.
    type: path
  signing_public_keys:
    description:
      - Ed25519 public keys whose signatures make a backup trusted, each as PEM (C(openssl pkey -in signing.pem
        -pubout)) or as the line of an OpenSSH C(.pub) file (C(ssh-ed25519 AAAA... comment)).
      - When given, a backup whose C(manifest.json) is unsigned, signed by another key, or changed after it was
        signed has status C(untrusted) and is never restored; asked for by C(backup_id), or when it is the newest
        backup, the module fails naming the backup and its manifest file.
      - Empty means signatures are not checked (backups restore whether signed or not).
      - Used by the modules that read backups, that is M(resilience.dr.files_restore), M(resilience.dr.pg_restore),
        M(resilience.dr.redis_restore), M(resilience.dr.backup_verify), M(resilience.dr.backup_info) and
        M(resilience.dr.backup_copy) (the source); the other repository modules accept and ignore it.
    type: list
    elements: str
    default: []
"""
