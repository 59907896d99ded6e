# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 26's acceptance as one run of playbooks/security_incident.yml on the lab, with the parts its own test files
set up (imported from them): every credential the plan knows (PostgreSQL and Redis users, an RDS master password, an
IAM access key and an application secret on moto), isolation and extra logging, the evidence set, and a restore from
before the intrusion. A check run changes nothing and lists what the real run does; the real run rotates, isolates,
keeps the evidence, restores and writes a report that lists every action and no secret; the closing run puts the
logging back."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timezone

from .conftest import boto3_client
from .test_security_isolation import (
    PLAYBOOK, READER, REPORTER, environment, incident, logging_settings, pg_login, quarantine, redis_admin, redis_login, security_team)
from .test_security_restore_before_intrusion import Lab, utc
from .test_security_rotation_aws import keys_of, secret_of, world

# The fixtures this run takes from the parts' own tests, with their teardowns: the isolation's changes put back
# (incident, which needs quarantine and security_team), the AWS side deleted afterwards (world).
SHARED_FIXTURES = (incident, quarantine, security_team, world)

REPORT_CALLBACK = "resilience.dr.dr_report"
STORE_EVIDENCE = "Store the evidence in the repository as an encrypted evidence set"
RDS_ROTATION, IAM_ROTATION = "Set the new master password of the RDS instance", "Create a new access key - "
APP_SECRET_ROTATION = "Hand the new application secret to the application"


def test_one_incident_run_rotates_isolates_keeps_evidence_restores_and_reports_without_secrets(
        ansible, lab, aws, incident, world, quarantine, tmp_path):
    plan, app, original = incident["plan"], incident["app"], incident["original"]
    dr_plan = plan["dr_plan"]
    primary = lab["sites"]["primary"]
    app_user, redis_user = app["database_user"], primary["redis"]["app_user"]
    iam, secretsmanager, rds = (boto3_client(aws, name) for name in ("iam", "secretsmanager", "rds"))
    user, ids, first_key = world["user"], world["ids"], world["first_key"]

    # One site, the test's own repository; sessions flushed by its restore (an intruder's keys go too).
    repository = tmp_path / "repository"
    dr_plan["repository"]["location"] = str(repository)
    dr_plan["sites"] = {"primary": dr_plan["sites"]["primary"]}
    next(item for item in dr_plan["components"] if item["name"] == "sessions")["restore"] = {"flush": True}
    restored = [item["name"] for item in dr_plan["components"]]
    backup_plan = json.loads(json.dumps(plan))
    # The AWS side of the rotation test: the RDS instance and the credentials, not its TSIG key (the DNS test's part).
    dr_plan["components"].append(next(item for item in world["plan"]["dr_plan"]["components"] if item["name"] == "ledger"))
    dr_plan["security"].update({key: world["plan"]["dr_plan"]["security"][key]
                                for key in ("rds_credentials", "iam_access_keys", "iam_key_grace", "app_secrets")})
    dr_plan["security"]["restore_components"] = restored

    state, reports, preview_reports = tmp_path / "state", tmp_path / "reports", tmp_path / "preview-reports"
    env = {"DR_STATE_DIR": str(state)}
    report_env = {**env, "ANSIBLE_CALLBACKS_ENABLED": REPORT_CALLBACK}
    logging_before = logging_settings(lab)
    data = Lab(lab)
    data.sql("DROP TABLE IF EXISTS intrusion_probe; CREATE TABLE intrusion_probe (label text)")
    try:
        data.write("before")
        backed_up = ansible.playbook("playbooks/backup.yml", backup_plan, env=env)
        assert backed_up.ok, backed_up.tail()
        time.sleep(2)  # backup times have whole seconds
        intrusion = utc(datetime.now(timezone.utc))
        time.sleep(2)
        data.write("after")
        backed_up_again = ansible.playbook("playbooks/backup.yml", backup_plan, env=env)
        assert backed_up_again.ok, backed_up_again.tail()
        both = {kind: {"before", "after"} for kind in ("postgresql", "redis", "files")}
        assert data.present() == both

        # --- check mode: lists every rotation and isolation, changes nothing --------------------------------
        preview = ansible.playbook(PLAYBOOK, {**plan, "confirm": "yes", "intrusion_time": intrusion}, check=True,
                                   env={**report_env, "DR_REPORT_DIR": str(preview_reports)})
        assert preview.ok, preview.tail()
        for listed in (RDS_ROTATION, IAM_ROTATION + user, APP_SECRET_ROTATION, STORE_EVIDENCE,
                       "Rotate each credential and end its sessions"):
            assert listed in preview.stdout, f"check mode does not list: {listed}"
        would = [action for result in preview.results() for action in result.get("actions") or []]
        assert "set log_connections = on (was off)" in would
        assert any(action.startswith(f"quarantine {quarantine['instance']} ") for action in would)
        assert pg_login(lab, app_user, original["SHOPFRONT_DB_PASSWORD"], app["database"])
        assert redis_login(lab, redis_user, original["SHOPFRONT_REDIS_PASSWORD"])
        assert keys_of(iam, user) == {first_key["AccessKeyId"]: "Active"}, "check mode created an IAM key"
        assert secret_of(secretsmanager, ids["session"]) == "old-session-key"
        assert logging_settings(lab) == logging_before
        assert not (repository / "security-evidence").exists(), "check mode stored an evidence set"
        assert data.present() == both, "check mode restored something"

        # --- the real run --------------------------------------------------------------------------------
        run = ansible.playbook(PLAYBOOK, {**plan, "confirm": "yes", "intrusion_time": intrusion},
                               env={**report_env, "DR_REPORT_DIR": str(reports)})
        assert run.ok, run.tail()

        rotated = environment(app["environment_file"])
        new_db, new_redis = rotated["SHOPFRONT_DB_PASSWORD"], rotated["SHOPFRONT_REDIS_PASSWORD"]
        assert not pg_login(lab, app_user, original["SHOPFRONT_DB_PASSWORD"], app["database"])
        assert pg_login(lab, app_user, new_db, app["database"])
        assert not redis_login(lab, redis_user, original["SHOPFRONT_REDIS_PASSWORD"])
        assert redis_login(lab, redis_user, new_redis)
        with urllib.request.urlopen(app["services"]["api"]["url"], timeout=5) as response:
            assert response.status == 200, "the api runs again on the new secrets"

        described = rds.describe_db_instances(DBInstanceIdentifier=world["instance"])["DBInstances"][0]
        assert "MasterUserPassword" not in described.get("PendingModifiedValues", {})
        master = secret_of(secretsmanager, ids["ledger"])
        assert master != "old-master-password-1"
        aws_env = environment(str(world["env_file"]))
        new_key = aws_env["AWS_ACCESS_KEY_ID"]
        assert keys_of(iam, user) == {first_key["AccessKeyId"]: "Inactive", new_key: "Active"}
        session = secret_of(secretsmanager, ids["session"])
        assert session != "old-session-key" and aws_env["SHOPFRONT_SESSION_KEY"] == session

        assert logging_settings(lab) == {"log_connections": "on", "log_disconnections": "on", "log_statement": "ddl"}
        assert int(redis_admin(lab).config_get("acllog-max-len")["acllog-max-len"]) == 1024

        set_id = run.result(STORE_EVIDENCE)["backup_id"]
        verified = ansible.module("resilience.dr.backup_verify", {
            "repository": str(repository), "component": "security-evidence", "backup_id": set_id,
            "encryption_identity_file": dr_plan["repository"]["encryption_identity_file"], "level": "content"})
        assert not verified["failed"] and verified["verified"][0]["ok"], verified.get("msg")

        assert data.present() == {kind: {"before"} for kind in ("postgresql", "redis", "files")}, \
            "what was written after intrusion_time must be gone and what was written before it there"

        [report_file] = reports.glob("*/report.json")
        report_md = report_file.with_name("report.md")
        report = json.loads(report_file.read_text())
        assert [item["backup_id"] for item in report["evidence_sets"]] == [set_id]
        listed = [(item["task"], item["action"]) for item in report["incident_actions"]]
        assert any(task.endswith("incident mode - orders-db") and action == "set log_connections = on (was off)"
                   for task, action in listed)
        for expected in (f"quarantine {quarantine['instance']} ", f"turn ACL user {READER} off",
                         f"refuse logins of role {REPORTER} (NOLOGIN)", f"IAM user {user}: new access key in use",
                         "RDS master password of ledger applied", "application secret session key has a new value",
                         "services stopped: api, worker", "services started with the new secrets: api, worker"):
            assert any(expected in action for _task, action in listed), f"the report does not list: {expected}"
        assert "## Incident actions" in report_md.read_text() and f"IAM user {user}: new access key in use" in report_md.read_text()

        all_secrets = {
            "old database password": original["SHOPFRONT_DB_PASSWORD"], "new database password": new_db,
            "old Redis password": original["SHOPFRONT_REDIS_PASSWORD"], "new Redis password": new_redis,
            "old master password": "old-master-password-1", "new master password": master,
            "old IAM secret key": first_key["SecretAccessKey"], "new IAM secret key": aws_env["AWS_SECRET_ACCESS_KEY"],
            "old session key": "old-session-key", "new session key": session}
        for name, value in all_secrets.items():
            for where, text in (("stdout", run.stdout), ("report.json", report_file.read_text()),
                                ("report.md", report_md.read_text())):
                assert value not in text, f"the {name} is in {where}"

        # --- the closing run: the logging as before ------------------------------------------------------
        closing = ansible.playbook(PLAYBOOK, {**plan, "confirm": "yes", "incident_phase": "close"}, env=env)
        assert closing.ok, closing.tail()
        assert logging_settings(lab) == logging_before
        assert redis_admin(lab).config_get("acllog-max-len")["acllog-max-len"] == incident["acllog_before"]
    finally:
        data.sql("DROP TABLE IF EXISTS intrusion_probe")
        data.redis().delete("intrusion-probe:before", "intrusion-probe:after")
        for path in data.uploads.glob("intrusion-probe-*.txt"):
            path.unlink()
