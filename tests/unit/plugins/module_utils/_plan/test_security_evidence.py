# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The security section's evidence and restore keys, checked with the rest of the plan."""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import validate
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import plan


def test_evidence_logs_restore_components_and_the_evidence_component_are_accepted():
    security = {"evidence_logs": ["/var/log/api.log", {"component": "orders-db", "path": "/var/log/postgresql/main.log"}],
                "evidence_component": "security-evidence", "restore_components": ["orders-db", "uploads"]}
    assert validate(plan(security=security)) == []


def test_unknown_components_and_bad_names_are_named():
    problems = validate(plan(security={
        "evidence_logs": ["api.log", {"component": "billing", "path": "/var/log/x.log", "host": "db1"}],
        "evidence_component": "orders-db", "restore_components": ["orders-db", "billing"],
    }))
    assert problems == [
        "security.evidence_logs 1 must be an absolute path, or a mapping of path and component",
        "security.evidence_logs 2 has unknown key(s) host; the keys are component, path",
        "security.evidence_logs 2 names component 'billing', which is not a component of the plan (the log file is "
        "read on that component's host)",
        "security.evidence_component orders-db is a component of the plan: give the evidence sets a name of their own "
        "in the repository",
        "security.restore_components names 'billing', which is not a component of the plan",
    ]
