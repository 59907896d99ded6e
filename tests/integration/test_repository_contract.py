# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every repository key docs/dr-plan.md documents reaches every repository module.

A plan sets every documented key; each module of the action group then runs with the roles'
module_defaults expression (and files_recovery runs as a role), and its invocation must show every key,
the secrets masked. The modules may refuse the made-up values (a local repository with S3 settings): what
is checked is what arrived, and that no module refused a key as unsupported.
"""

from __future__ import annotations

import copy
import re
import secrets
import typing as t
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .conftest import LAB_DIR, REPOSITORY_ROOT

MASK = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
SECRETS = ("access_key", "secret_key", "session_token", "encryption_identity")
MODULES = {
    "backup_copy": {"destination_repository": "/nonexistent/copy"},
    "backup_info": {},
    "backup_prune": {"component": "uploads", "keep_last": 100},
    "backup_verify": {"component": "uploads"},
    "evidence_store": {"component": "security-evidence", "directory": "/nonexistent/evidence", "pieces": []},
    "files_backup": {"component": "uploads", "path": "/nonexistent/uploads"},
    "files_restore": {"component": "uploads", "path": "/nonexistent/uploads"},
    "pg_backup": {"component": "orders-db", "login_port": 9},
    "pg_restore": {"component": "orders-db", "target_db": "contract", "login_port": 9},
    "redis_backup": {"component": "sessions", "login_port": 9},
    "redis_restore": {"component": "sessions", "login_port": 9},
    "restore_test_record": {"component": "uploads", "backup_id": "20261123T040000Z-aaaaaa", "ok": True},
}
DEFAULTS = "{{ plan_resolved.repository | combine(secrets.repository | default({})) }}"


def documented_keys() -> list[str]:
    """The keys of the table in the Repository section of docs/dr-plan.md (location is the modules' repository)."""
    section = (REPOSITORY_ROOT / "docs" / "dr-plan.md").read_text().split("\n## Repository\n", 1)[1].split("\n## ", 1)[0]
    keys = []
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) > 2 and "`" in cells[1]:
            keys.extend(re.findall(r"`([a-z0-9_]+)`", cells[1]))
    return ["repository" if key == "location" else key for key in keys]


@pytest.fixture(scope="module")
def full_plan(lab) -> tuple[dict[str, t.Any], dict[str, str]]:
    """The lab's plan with every documented repository key set (the secrets unique markers)."""
    plan = copy.deepcopy(yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())["dr_plan"])
    public = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    markers = {name: f"{name}-{secrets.token_hex(8)}" for name in ("access_key", "secret_key", "session_token")}
    plan["repository"].update(
        endpoint_url="http://127.0.0.1:9", region="eu-west-1", profile="contract-test", validate_certs=False,
        s3_sse="aws:kms", s3_sse_kms_key_id="alias/contract-test", lock_timeout=7, break_stale_lock=True,
        compression_level=5, compression_threads=1, retention_class="pinned", s3_object_lock_mode="GOVERNANCE",
        s3_object_lock_days=3, signing_key_file="/nonexistent/signing.pem", signing_public_keys=[public],
        aws_ca_bundle="/nonexistent/ca.pem", aws_config={"connect_timeout": 3},
        **markers,
    )
    return plan, markers


def tasks() -> list[dict[str, t.Any]]:
    found: list[dict[str, t.Any]] = [{"name": "Resolve the plan", "ansible.builtin.include_role": {"name": "resilience.dr.plan"}}]
    for name, args in MODULES.items():
        found.append({
            "name": f"Run {name}",
            "vars": {"secrets": "{{ dr_plan | resilience.dr.plan_secrets(plan_resolved.site) }}"},
            "module_defaults": {"group/resilience.dr.repository": DEFAULTS},
            f"resilience.dr.{name}": args,
            "ignore_errors": True,
        })
    found.append({"name": "Restore uploads with the role", "ansible.builtin.include_role": {"name": "resilience.dr.files_recovery"},
                  "vars": {"files_recovery_component": "uploads"}})
    return found


@pytest.mark.parametrize("identity", ["encryption_identity_file", "encryption_identity"])
def test_every_documented_repository_key_reaches_every_repository_module(ansible, full_plan, identity):
    plan, markers = copy.deepcopy(full_plan[0]), dict(full_plan[1])
    repository = plan["repository"]
    if identity == "encryption_identity":
        # The two exclude each other: once the file, once its content inline (a secret).
        repository["encryption_identity"] = Path(repository.pop("encryption_identity_file")).read_text()
        markers["encryption_identity"] = repository["encryption_identity"].strip().splitlines()[-1]
    other = "encryption_identity_file" if identity == "encryption_identity" else "encryption_identity"
    expected = [key for key in documented_keys() if key != other]
    assert set(expected) <= {"repository", *repository}, "the plan of this test must set every documented key"

    run = ansible.tasks(tasks(), {"dr_plan": plan}, check=True)
    names = [f"Run {name}" for name in MODULES] + ["Restore and verify the files component - uploads"]
    for task in names:
        result = run.result(task)
        arguments = result.get("invocation", {}).get("module_args", {})
        assert "Unsupported parameters" not in str(result.get("msg")), f"{task}: {result.get('msg')}"
        missing = [key for key in expected if key not in arguments]
        assert not missing, f"{task}: the plan's repository keys {missing} did not arrive ({result.get('msg')})"
        for key in expected:
            if key in SECRETS:
                assert arguments[key] == MASK, f"{task}: {key} is not masked"
            elif key == "repository":
                assert arguments[key] == repository["location"]
            else:
                assert arguments[key] == repository[key], f"{task}: {key} arrived as {arguments[key]!r}"
    for name, marker in markers.items():
        assert marker not in run.stdout, f"the secret {name} appears in the output"
