# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/security_incident.yml on the lab keeps its evidence in the repository: pg_stat_activity and the
refused logins of orders-db's log, the CLIENT LIST and ACL LOG of sessions, and the application's log files, each
collected on its component's host with its time and SHA-256, stored as one encrypted evidence set that
backup_verify accepts, its id in the report; no password in it, no staging directory left, and a check run that
lists the pieces and stores nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import psycopg2
import pytest
import redis
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository

from .pg_fixtures import server_log
from .test_security_incident import PLAYBOOK

REPORT = {"ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report"}


def refused_logins(lab: dict) -> None:
    """An intruder guessing passwords: one refused PostgreSQL login, one refused Redis AUTH."""
    primary = lab["sites"]["primary"]
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host=primary["postgresql"]["host"], port=primary["postgresql"]["port"], dbname="shopfront",
                         user="intruder", password="guess", connect_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=primary["redis"]["host"], port=primary["redis"]["port"], username="intruder",
                    password="guess", socket_timeout=5).ping()


def read_piece(repository: Repository, entry, name: str) -> str:
    sink = io.BytesIO()
    repository.read_file(entry, name, sink)
    return sink.getvalue().decode()


def test_the_evidence_is_collected_on_each_host_and_stored_as_a_verified_encrypted_set(ansible, lab, incident, tmp_path):
    plan = incident["plan"]
    dr_plan = plan["dr_plan"]
    dr_plan["repository"]["location"] = str(tmp_path / "repository")
    dr_plan["sites"] = {"primary": dr_plan["sites"]["primary"]}
    pg_log = str(server_log(lab))
    # The lab's server logs to a file of its own (no logging_collector): named for orders-db, read on its host.
    dr_plan["security"]["evidence_logs"].append({"component": "orders-db", "path": pg_log})
    state = tmp_path / "state"
    secrets = [dr_plan["components"][0]["connection"]["login_password"], dr_plan["components"][1]["connection"]["login_password"]]
    refused_logins(lab)

    preview = ansible.playbook(PLAYBOOK, plan, check=True, env={"DR_STATE_DIR": str(state), "DR_REPORT_DIR": str(tmp_path / "r0"), **REPORT})
    assert preview.ok, preview.tail()
    listed = [piece["name"] for piece in preview.result("Store the evidence in the repository as an encrypted evidence set")["pieces"]]
    assert "orders-db/pg_stat_activity.csv" in listed and "sessions/acl_log.json" in listed
    assert not (tmp_path / "repository" / "security-evidence").exists() and not (state / "evidence").exists()

    run = ansible.playbook(PLAYBOOK, {**plan, "confirm": "yes"},
                           env={"DR_STATE_DIR": str(state), "DR_REPORT_DIR": str(tmp_path / "reports"), **REPORT})
    assert run.ok, run.tail()

    set_id = run.result("Store the evidence in the repository as an encrypted evidence set")["backup_id"]
    verified = ansible.module("resilience.dr.backup_verify", {
        "repository": str(tmp_path / "repository"), "component": "security-evidence", "backup_id": set_id,
        "encryption_identity_file": dr_plan["repository"]["encryption_identity_file"], "level": "content"})
    assert not verified["failed"] and verified["verified"][0]["ok"], verified.get("msg")
    [report_file] = (tmp_path / "reports").glob("*/report.json")
    report = json.loads(report_file.read_text())
    assert [item["backup_id"] for item in report["evidence_sets"]] == [set_id]
    assert set_id in next(report_file.parent.glob("report.md")).read_text()

    identity = x25519.Identity.from_str(next(line for line in Path(dr_plan["repository"]["encryption_identity_file"])
                                             .read_text().splitlines() if line.startswith("AGE-SECRET-KEY")))
    repository = Repository(LocalBackend(str(tmp_path / "repository")), identities=[identity])
    [entry] = repository.list_backups("security-evidence")
    manifest = entry.manifest
    assert manifest.kind == "evidence" and manifest.encryption["format"] == "age"
    pieces = {piece["name"]: piece for piece in manifest.extra["evidence"]}
    assert {"orders-db/pg_stat_activity.csv", "orders-db/auth_failures.log", "sessions/client_list.txt",
            "sessions/acl_log.json"} <= set(pieces)
    assert any(piece["what"] == "log_file" and piece["source"].endswith("api.log") for piece in pieces.values())
    for piece in pieces.values():
        assert piece["collected_at"].endswith("Z") and len(piece["sha256"]) == 64 and piece["host"]
    assert 'password authentication failed for user "intruder"' in read_piece(repository, entry, "orders-db/auth_failures.log")
    assert "intruder" in read_piece(repository, entry, "sessions/acl_log.json")
    texts = [read_piece(repository, entry, name) for name in pieces if not name.startswith(("controller/", "orders-db/log-"))]
    for secret in secrets:
        assert all(secret not in text for text in texts), "a password of the plan is in the evidence"
        assert secret not in run.stdout
    assert not list((state / "evidence").iterdir()), "the staging directories stay only until the set is stored"
