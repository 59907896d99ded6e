# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-side connection options of modules that read one repository and write another.

Matches copy_sides_argument_spec() in plugins/module_utils/_repository/copy.py.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  source_endpoint_url:
    description:
      - S3 API endpoint of the source repository. Defaults to O(endpoint_url).
    type: str
  source_region:
    description:
      - AWS region of the source bucket. Defaults to O(region).
    type: str
  source_access_key:
    description:
      - AWS access key id for the source repository.
      - Credentials of a side go together. When any of O(source_access_key), O(source_secret_key),
        O(source_session_token) or O(source_profile) is set, the source uses only those; otherwise it uses
        O(access_key), O(secret_key), O(session_token) and O(profile) (or boto3's default chain).
    type: str
  source_secret_key:
    description:
      - AWS secret access key that goes with O(source_access_key).
    type: str
  source_session_token:
    description:
      - AWS session token of temporary credentials for the source.
    type: str
  source_profile:
    description:
      - Named AWS profile for the source.
    type: str
  source_validate_certs:
    description:
      - Whether to verify the TLS certificate of the source's S3 endpoint. Defaults to O(validate_certs).
    type: bool
  destination_endpoint_url:
    description:
      - S3 API endpoint of the destination repository. Defaults to O(endpoint_url).
    type: str
  destination_region:
    description:
      - AWS region of the destination bucket (the other region of a cross-region copy). Defaults to O(region).
    type: str
  destination_access_key:
    description:
      - AWS access key id for the destination repository, for example of another account.
      - As for the source, the destination's credentials go together and replace the shared ones as a group.
    type: str
  destination_secret_key:
    description:
      - AWS secret access key that goes with O(destination_access_key).
    type: str
  destination_session_token:
    description:
      - AWS session token of temporary credentials for the destination.
    type: str
  destination_profile:
    description:
      - Named AWS profile for the destination.
    type: str
  destination_validate_certs:
    description:
      - Whether to verify the TLS certificate of the destination's S3 endpoint. Defaults to O(validate_certs).
    type: bool
"""
