# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/security_incident.yml on the lab: evidence first, then the
application's PostgreSQL and Redis passwords rotated, old sessions ended, the
new secrets handed to the application, which comes back healthy."""

from __future__ import annotations

import stat
import urllib.request
from pathlib import Path

import psycopg2
import pytest

from .conftest import app_db_login, app_environment, app_redis_login, boto3_client

PLAYBOOK = "playbooks/security_incident.yml"


def test_security_incident_rotates_passwords_ends_sessions_and_keeps_evidence(ansible, lab, aws, incident, tmp_path):
    plan, app, original = incident["plan"], incident["app"], incident["original"]
    state = {"DR_STATE_DIR": str(tmp_path / "state")}

    refused = ansible.playbook(PLAYBOOK, plan, env=state)
    assert not refused.ok and "-e confirm=yes" in refused.stdout

    preview = ansible.playbook(PLAYBOOK, plan, check=True, env=state)
    assert preview.ok, preview.tail()
    assert app_environment(app["environment_file"]) == original
    assert app_db_login(lab, original["SHOPFRONT_DB_PASSWORD"]), "check mode must not rotate anything"

    # A session of the old credentials, which the rotation must end.
    primary = lab["sites"]["primary"]
    old_session = psycopg2.connect(host=primary["postgresql"]["host"], port=primary["postgresql"]["port"],
                                   dbname="shopfront", user="shopfront", password=original["SHOPFRONT_DB_PASSWORD"])

    run = ansible.playbook(PLAYBOOK, {**plan, "confirm": "yes"}, env=state)
    assert run.ok, run.tail()

    rotated = app_environment(app["environment_file"])
    assert stat.S_IMODE(Path(app["environment_file"]).stat().st_mode) == 0o600
    new_db, new_redis = rotated["SHOPFRONT_DB_PASSWORD"], rotated["SHOPFRONT_REDIS_PASSWORD"]
    assert new_db != original["SHOPFRONT_DB_PASSWORD"] and new_redis != original["SHOPFRONT_REDIS_PASSWORD"]
    assert not app_db_login(lab, original["SHOPFRONT_DB_PASSWORD"]), "the old database password must be refused"
    assert app_db_login(lab, new_db)
    assert not app_redis_login(lab, original["SHOPFRONT_REDIS_PASSWORD"]), "the old Redis password must be refused"
    assert app_redis_login(lab, new_redis)
    redis_config = Path(lab["sites"]["primary"]["redis"]["config"])
    assert stat.S_IMODE(redis_config.stat().st_mode) == 0o600, "the rewritten redis.conf holds password hashes"
    with pytest.raises(psycopg2.Error):
        with old_session.cursor() as cursor:
            cursor.execute("SELECT 1")
    for secret in (new_db, new_redis):
        assert secret not in run.stdout, "a new secret was printed"

    secrets = boto3_client(aws, "secretsmanager")
    assert secrets.get_secret_value(SecretId="shopfront/lab/db")["SecretString"] == new_db

    with urllib.request.urlopen(app["services"]["api"]["url"], timeout=5) as response:
        assert response.status == 200, "the application runs on the new secrets"

    # The evidence is in the repository (test_security_evidence.py reads it); its staging directories are gone.
    stored = run.result("Store the evidence in the repository as an encrypted evidence set")
    names = {piece["name"] for piece in stored["pieces"]}
    assert {"orders-db/pg_stat_activity.csv", "sessions/client_list.txt"} <= names and stored["backup_id"]
    assert any(name.endswith("api.log") for name in names)
    assert not list((tmp_path / "state" / "evidence").iterdir())
