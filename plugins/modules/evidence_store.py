#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: evidence_store
short_description: Store the evidence of a security incident in the backup repository as an encrypted evidence set
version_added: 0.1.0
description:
  - Stores the pieces M(resilience.dr.evidence_collect) collected (and that were copied into O(directory)) as one
    backup of kind C(evidence) of O(component) - each file compressed and encrypted to the repository's
    recipients, its size and SHA-256 in the manifest, the manifest written last and signed where the repository
    signs. Its backup id is the evidence set's id.
  - Before storing, each piece's size and SHA-256 are checked against what was recorded where it was collected;
    a piece that changed fails the task and nothing is stored.
  - The manifest's C(extra.evidence) lists every piece - what it is, its component and host, what it was read
    from, when it was collected (UTC), its size and SHA-256 - and C(source.incident) the incident (O(incident)).
  - M(resilience.dr.backup_verify) verifies an evidence set like any backup; M(resilience.dr.backup_prune) leaves
    evidence sets alone unless given C(include_evidence=true).
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.repository
attributes:
  check_mode:
    support: full
    details: Lists the pieces that would be stored; nothing is written.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  component:
    description: Where evidence sets are kept in the repository (the plan's C(security.evidence_component)).
    type: str
    required: true
  directory:
    description: The directory holding the pieces, each under the C(name) of its entry in O(pieces).
    type: path
    required: true
  pieces:
    description: The pieces as M(resilience.dr.evidence_collect) returned them.
    type: list
    elements: dict
    required: true
  incident:
    description: What identifies the incident in the set's manifest (the plan's name, the run's start, ...).
    type: dict
    default: {}
requirements:
  - zstandard
  - pyrage (with O(encryption_recipients))
  - boto3 (for s3:// repositories)
seealso:
  - module: resilience.dr.evidence_collect
  - module: resilience.dr.backup_verify
"""

EXAMPLES = r"""
- name: Store the collected evidence in the repository
  resilience.dr.evidence_store:
    repository: s3://acme-dr-backups/prod
    encryption_recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
    component: security-evidence
    directory: /var/lib/resilience-dr/evidence/incident-20261123
    pieces: "{{ collected.pieces }}"
    incident: {plan: shopfront, started: "2026-11-23T04:10:00Z"}
"""

RETURN = r"""
backup_id:
  description: The evidence set's id (null in check mode and when there was nothing to store).
  returned: always
  type: str
  sample: 20261123T041200Z-k3f9ab
component:
  description: O(component).
  returned: always
  type: str
pieces:
  description: The pieces stored (or that would be), as recorded in the manifest.
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.resilience.dr.plugins.module_utils._evidence.store import store_evidence
from ansible_collections.resilience.dr.plugins.module_utils._repository_module import RepositoryModule


def main() -> None:
    module = RepositoryModule(
        dict(
            component=dict(type="str", required=True),
            directory=dict(type="path", required=True),
            pieces=dict(type="list", elements="dict", required=True),
            incident=dict(type="dict", default={}),
        ),
        uses=("lock", "backup"),
    )
    params = module.params
    module.run(lambda repository: store_evidence(
        repository, component=params["component"], directory=params["directory"], pieces=params["pieces"],
        incident=params["incident"], check_mode=module.check_mode,
    ))


if __name__ == "__main__":
    main()
