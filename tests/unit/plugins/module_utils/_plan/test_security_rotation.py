# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The credentials of dr_plan.security beyond PostgreSQL and Redis users: RDS, IAM, app secrets, TSIG."""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import validate
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import plan

RDS = {"name": "ledger", "kind": "rds", "connection": {"db_instance_identifier": "ledger", "region": "us-east-1"},
       "backup": {"method": "snapshot"}}


def with_security(security, dns=None):
    changed = plan(security=security)
    changed["components"].append(dict(RDS))
    if dns is not None:
        changed["dns"] = dns
    return changed


RFC2136 = {"provider": "rfc2136", "server": "192.0.2.53", "zone": "example.com", "tsig_key_name": "dr-failover",
           "records": [{"record": "app.example.com", "type": "A"}]}


def test_a_complete_rotation_section_is_valid():
    security = {
        "rds_credentials": [{"component": "ledger", "secret_id": "shopfront/ledger"}],
        "iam_access_keys": [{"user": "deployer", "env_file": "/etc/app/env", "env_var_id": "AWS_ACCESS_KEY_ID",
                             "env_var": "AWS_SECRET_ACCESS_KEY"}],
        "iam_key_grace": "0s",
        "app_secrets": [{"name": "session key", "env_file": "/etc/app/env", "env_var": "SESSION_KEY", "length": 64}],
        "tsig_key": {"key_file": "/etc/bind/dr-failover.key", "reload_command": ["rndc", "reload"],
                     "secret_id": "shopfront/tsig"},
    }
    assert validate(with_security(security, RFC2136)) == []


def test_each_rotation_problem_is_named():
    security = {
        "rds_credentials": [{"component": "orders-db", "secret_id": "x"}],
        "iam_access_keys": [{"name": "deployer", "env_file": "/etc/app/env"}],
        "iam_key_grace": "soon",
        "app_secrets": [{"name": "session key", "secret_id": "x", "length": 8, "colour": "red"}],
        "tsig_key": {"reload_command": "rndc reload", "env_file": "/etc/app/env", "env_var": "TSIG"},
    }
    problems = validate(with_security(security))
    assert "dr_plan.security.rds_credentials entry 1 names component 'orders-db', which is not an rds component of the plan" in problems
    assert "dr_plan.security.iam_access_keys entry deployer has no user (the IAM user whose access key is replaced)" in problems
    assert any(p.startswith("dr_plan.security.iam_access_keys entry deployer needs env_file and env_var together") for p in problems)
    assert any("iam_key_grace" in p and "soon" in p for p in problems)
    assert any(p.startswith("dr_plan.security.app_secrets entry session key has unknown key(s) colour") for p in problems)
    assert any("has secret_id x, which a rotated credential already writes" in p for p in problems)
    assert any("has length 8" in p for p in problems)
    assert any(p.startswith("dr_plan.security.tsig_key needs dr_plan.dns with provider rfc2136") for p in problems)
    assert "dr_plan.security.tsig_key has no key_file (the file with the key statement the DNS server includes)" in problems
    assert any(p.startswith("dr_plan.security.tsig_key.reload_command must be a list of strings") for p in problems)


def test_a_secret_with_nowhere_to_go_is_refused():
    problems = validate(with_security({"app_secrets": [{"name": "session key"}]}))
    assert problems == ["dr_plan.security.app_secrets entry session key has nowhere to put the new secret: give env_file "
                        "and env_var, or secret_id (Secrets Manager)"]
