#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: s3_restore
short_description: Bring an S3 bucket prefix back to how it was at a point in time, from object versions
version_added: 0.1.0
description:
  - For every object under O(prefix) of the versioned bucket O(bucket), finds the version that was current at
    O(restore_time) and makes it current again, after accidental deletes, bad overwrites or ransomware.
  - An object deleted after O(restore_time) (only delete markers since) is undeleted by removing those delete
    markers, so it gets back its own version id and nothing is copied.
  - An object overwritten after O(restore_time) (or overwritten and then deleted) is rolled back by copying the
    old version over it, which adds a new version; the later versions stay in the history.
  - Objects created after O(restore_time) are listed in RV(newer_kept), or deleted with O(delete_newer=true)
    (in a bucket with versioning Enabled a delete adds a delete marker, so they remain recoverable).
  - O(delete_newer=true) is refused, before anything changes, when the bucket written to (O(target_bucket), else
    O(bucket)) does not have versioning V(Enabled) (never enabled, or V(Suspended)), where a delete is permanent.
    O(allow_permanent_delete=true) accepts that.
  - With O(target_bucket), the prefix as it was is copied into another bucket (a clean-room restore) and the
    source bucket is not changed.
  - Idempotent; a second run finds nothing to change. Copies run in parallel (O(concurrency)); listings are
    paginated, so prefixes of many thousands of objects work.
  - Fails clearly when the bucket is not versioned.
  - See docs/files-and-s3.md in the collection for incident examples and the IAM policy.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    details: Lists every change the restore would make; nothing is written.
  diff_mode:
    support: full
    details: Shows, per key, the version or ETag it holds now and the version it gets back.
  platform:
    platforms: posix
options:
  bucket:
    description: The versioned bucket whose history is read.
    type: str
    required: true
  prefix:
    description: Only keys starting with this prefix (for example V(uploads/)). Empty means the whole bucket.
    type: str
    default: ""
  restore_time:
    description:
      - The moment to go back to, ISO 8601 (V(2026-11-23T04:00:00Z)); a time without a zone is UTC.
      - S3 records object times to the second, so give a time at least one second away from the changes
        to keep or undo.
    type: str
    required: true
  target_bucket:
    description:
      - Write the restored objects (same keys) into this existing bucket instead of O(bucket). Objects of the
        prefix already there with the same content are left alone.
    type: str
  delete_newer:
    description:
      - Delete the objects that did not exist at O(restore_time) (from O(target_bucket) when given).
      - Needs versioning V(Enabled) on the bucket written to, so that every delete can be undone, unless
        O(allow_permanent_delete=true).
    type: bool
    default: false
  allow_permanent_delete:
    description:
      - Let O(delete_newer=true) delete from a bucket whose versioning is not V(Enabled) (never enabled, or
        V(Suspended)), where a deleted object cannot be brought back. Without it such a run fails before
        anything changes.
    type: bool
    default: false
  concurrency:
    description: How many copies run at the same time.
    type: int
    default: 16
notes:
  - Objects larger than 5 GiB are copied with a multipart copy.
  - When copying into another bucket, an object first uploaded in parts is compared by its ETag, which changes
    with a copy; such objects are copied again by a later run.
requirements:
  - boto3 and botocore
seealso:
  - module: amazon.aws.s3_bucket
"""

EXAMPLES = r"""
- name: Show what would come back of the uploads as they were before the incident at 03:12 UTC
  resilience.dr.s3_restore:
    bucket: acme-prod-uploads
    prefix: uploads/
    restore_time: "2026-11-23T03:10:00Z"
  check_mode: true
  diff: true
  register: uploads_plan

- name: Undo the ransomware's overwrites and deletes, and remove what it added
  resilience.dr.s3_restore:
    bucket: acme-prod-uploads
    prefix: uploads/
    restore_time: "2026-11-23T03:10:00Z"
    delete_newer: true

- name: Copy the bucket as it was into a clean-room bucket for forensics and a restore drill
  resilience.dr.s3_restore:
    bucket: acme-prod-uploads
    restore_time: "{{ incident_start }}"
    target_bucket: acme-cleanroom-uploads
    region: eu-west-1
"""

RETURN = r"""
bucket:
  description: The bucket whose versions were read.
  returned: always
  type: str
prefix:
  description: The prefix restored.
  returned: always
  type: str
target_bucket:
  description: The bucket written to (O(bucket) unless O(target_bucket) was given).
  returned: always
  type: str
restore_time:
  description: The time restored to, normalized to UTC.
  returned: always
  type: str
  sample: "2026-11-23T03:10:00Z"
changes:
  description: Every change made (or, in check mode, that would be made).
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: The object key.
      type: str
    action:
      description: C(undelete), C(roll_back), C(restore) (copy into a bucket missing it) or C(delete).
      type: str
    version_id:
      description: The version brought back (not for C(delete)).
      type: str
    size:
      description: Its size in bytes (not for C(delete)).
      type: int
  sample:
    - {key: uploads/a.pdf, action: undelete, version_id: 3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY, size: 52311}
newer_kept:
  description: Keys created after O(restore_time) and kept (O(delete_newer=false)).
  returned: always
  type: list
  elements: str
summary:
  description: Counts per action, plus C(newer_kept), C(unchanged) and C(objects_at_time).
  returned: always
  type: dict
  sample: {undelete: 120, roll_back: 3480, restore: 0, delete: 0, newer_kept: 12, unchanged: 9100, objects_at_time: 12700}
duration_s:
  description: Seconds the module ran.
  returned: always
  type: float
"""


from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import aws_client, require_boto3  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._module import mask_options, require_libraries, run_module  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._s3_restore import S3Restore, s3_restore  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._timing import parse_time  # noqa: E402


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            bucket=dict(type="str", required=True),
            prefix=dict(type="str", default=""),
            restore_time=dict(type="str", required=True),
            target_bucket=dict(type="str"),
            delete_newer=dict(type="bool", default=False),
            allow_permanent_delete=dict(type="bool", default=False),
            concurrency=dict(type="int", default=16),
        ),
        supports_check_mode=True,
        check_boto3=False,
    )
    mask_options(module, "access_key")  # a secret of the DR plan, like secret_key
    require_libraries(module, require_boto3)
    params = module.params

    def work() -> dict:
        if params["concurrency"] < 1:
            raise ConfigurationError("concurrency must be 1 or more")
        moment = parse_time(params["restore_time"], "restore_time")
        restore = S3Restore(
            aws_client(module, "s3"), params["bucket"], params["prefix"],
            target_bucket=params["target_bucket"], retry={"aws_retry": True}, concurrency=params["concurrency"],
        )
        return s3_restore(restore, moment, delete_newer=params["delete_newer"], check_mode=module.check_mode,
                          diff=module._diff, allow_permanent_delete=params["allow_permanent_delete"])

    run_module(module, work)


if __name__ == "__main__":
    main()
