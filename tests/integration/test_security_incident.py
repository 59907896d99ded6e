# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/security_incident.yml on the lab: evidence first, then the
application's PostgreSQL and Redis passwords rotated, old sessions ended, the
new secrets handed to the application, which comes back healthy."""

from __future__ import annotations

import stat
import typing as t
import urllib.request
from pathlib import Path

import psycopg2
import pytest
import redis
import yaml

from .conftest import LAB_DIR, boto3_client, lab_ctl

PLAYBOOK = "playbooks/security_incident.yml"


def environment(path: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if "=" in line)


def db_login(lab: dict, password: str) -> bool:
    primary = lab["sites"]["primary"]
    try:
        psycopg2.connect(host=primary["postgresql"]["host"], port=primary["postgresql"]["port"], dbname="shopfront",
                         user="shopfront", password=password, connect_timeout=5).close()
        return True
    except psycopg2.OperationalError:
        return False


def redis_login(lab: dict, password: str) -> bool:
    primary = lab["sites"]["primary"]
    try:
        return redis.Redis(host=primary["redis"]["host"], port=primary["redis"]["port"],
                           username=primary["redis"]["app_user"], password=password, socket_timeout=5).ping()
    except redis.AuthenticationError:
        return False


@pytest.fixture
def incident(lab, aws) -> t.Iterator[dict[str, t.Any]]:
    """The lab's plan and the application's passwords; puts the lab's passwords back afterwards."""
    plan = yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())
    app = lab["sites"]["primary"]["app"]
    original_file = Path(app["environment_file"]).read_text()
    original = environment(app["environment_file"])
    redis_config = Path(lab["sites"]["primary"]["redis"]["config"])
    original_redis_config = redis_config.read_text()
    assert db_login(lab, original["SHOPFRONT_DB_PASSWORD"]) and redis_login(lab, original["SHOPFRONT_REDIS_PASSWORD"])
    yield {"plan": plan, "app": app, "original": original}

    primary = lab["sites"]["primary"]
    admin = psycopg2.connect(host=primary["postgresql"]["host"], port=primary["postgresql"]["port"], dbname="postgres",
                             user=primary["postgresql"]["user"], password=primary["postgresql"]["password"])
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("ALTER ROLE shopfront PASSWORD %s", (original["SHOPFRONT_DB_PASSWORD"],))
    admin.close()
    admin_cache = redis.Redis(host=primary["redis"]["host"], port=primary["redis"]["port"],
                              password=primary["redis"]["password"])
    admin_cache.acl_setuser(primary["redis"]["app_user"], enabled=True, reset_passwords=True,
                            passwords=["+" + original["SHOPFRONT_REDIS_PASSWORD"]], keys=["*"], channels=["*"],
                            commands=["+@all", "-@admin", "-@dangerous"])
    # The rotation rewrote redis.conf: the lab's own file (a restart keeps the lab's password).
    redis_config.write_text(original_redis_config)
    redis_config.chmod(0o600)  # CONFIG REWRITE made a new file with the default mode
    Path(app["environment_file"]).write_text(original_file)
    for name in ("api", "worker"):
        lab_ctl(app["services"][name]["ctl"], "restart")


def test_security_incident_rotates_passwords_ends_sessions_and_keeps_evidence(ansible, lab, aws, incident, tmp_path):
    plan, app, original = incident["plan"], incident["app"], incident["original"]
    state = {"DR_STATE_DIR": str(tmp_path / "state")}

    refused = ansible.playbook(PLAYBOOK, plan, env=state)
    assert not refused.ok and "-e confirm=yes" in refused.stdout

    preview = ansible.playbook(PLAYBOOK, plan, check=True, env=state)
    assert preview.ok, preview.tail()
    assert environment(app["environment_file"]) == original
    assert db_login(lab, original["SHOPFRONT_DB_PASSWORD"]), "check mode must not rotate anything"

    # A session of the old credentials, which the rotation must end.
    primary = lab["sites"]["primary"]
    old_session = psycopg2.connect(host=primary["postgresql"]["host"], port=primary["postgresql"]["port"],
                                   dbname="shopfront", user="shopfront", password=original["SHOPFRONT_DB_PASSWORD"])

    run = ansible.playbook(PLAYBOOK, {**plan, "confirm": "yes"}, env=state)
    assert run.ok, run.tail()

    rotated = environment(app["environment_file"])
    assert stat.S_IMODE(Path(app["environment_file"]).stat().st_mode) == 0o600
    new_db, new_redis = rotated["SHOPFRONT_DB_PASSWORD"], rotated["SHOPFRONT_REDIS_PASSWORD"]
    assert new_db != original["SHOPFRONT_DB_PASSWORD"] and new_redis != original["SHOPFRONT_REDIS_PASSWORD"]
    assert not db_login(lab, original["SHOPFRONT_DB_PASSWORD"]), "the old database password must be refused"
    assert db_login(lab, new_db)
    assert not redis_login(lab, original["SHOPFRONT_REDIS_PASSWORD"]), "the old Redis password must be refused"
    assert redis_login(lab, new_redis)
    with pytest.raises(psycopg2.Error):
        with old_session.cursor() as cursor:
            cursor.execute("SELECT 1")
    for secret in (new_db, new_redis):
        assert secret not in run.stdout, "a new secret was printed"

    secrets = boto3_client(aws, "secretsmanager")
    assert secrets.get_secret_value(SecretId="shopfront/lab/db")["SecretString"] == new_db

    with urllib.request.urlopen(app["services"]["api"]["url"], timeout=5) as response:
        assert response.status == 200, "the application runs on the new secrets"

    evidence = list((tmp_path / "state" / "evidence").iterdir())
    assert len(evidence) == 1 and stat.S_IMODE(evidence[0].stat().st_mode) == 0o700
    sessions = (evidence[0] / "orders-db-pg_stat_activity.csv").read_text()
    assert sessions.startswith("taken,pid,usename") and "shopfront" in sessions
    assert "user=shopfront" in (evidence[0] / "sessions-client-list.txt").read_text()
    assert (evidence[0] / "api.log").is_file()
