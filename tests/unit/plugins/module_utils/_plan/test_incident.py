# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan's isolation, extra logging and notification keys of a security incident."""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.module_utils._plan.secrets import secret_values, undefined_needed
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import validate
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import plan


def with_security(**security):
    changed = plan()
    changed["security"] = security
    return changed


def test_a_complete_isolation_section_is_valid():
    assert validate(with_security(
        extra_logging=["orders-db", "sessions"],
        revoke_logins=[{"component": "orders-db", "users": ["shopfront", "reporting"]},
                       {"component": "sessions", "users": ["shopfront"]}],
        quarantine={
            "security_groups": [{"instance_ids": ["i-0abc"], "quarantine_group_id": "sg-0q", "aws": {"region": "eu-west-1"}}],
            "nftables": [{"host": "web1", "allow": [{"source": "192.0.2.0/24", "ports": [22]}]}],
        },
        team_notifications=[{"type": "email", "to": ["security@example.com"]}],
        affected_users_template="templates/affected_users.md.j2",
    )) == []


def test_isolation_names_only_postgresql_and_redis_components_and_lists_users():
    problems = validate(with_security(
        extra_logging=["uploads"],
        revoke_logins=[{"component": "orders-db"}, {"component": "ledger", "users": ["x"], "user": "y"}],
    ))
    assert problems == [
        "dr_plan.security.extra_logging names 'uploads', which is not a postgresql or redis component of the plan",
        "dr_plan.security.revoke_logins entry 1 needs users, a list of the application's roles or ACL users whose "
        "logins are refused",
        "dr_plan.security.revoke_logins entry 2 has unknown key(s) user; the keys are component, users",
        "dr_plan.security.revoke_logins entry 2 names 'ledger', which is not a postgresql or redis component of the plan",
    ]


def test_a_quarantine_needs_its_group_host_and_port_numbers():
    problems = validate(with_security(quarantine={
        "security_groups": [{"instance_ids": []}],
        "nftables": [{"allow": [{"source": "192.0.2.1", "ports": ["ssh"]}]}],
        "firewall": {},
    }, team_notifications=[{"type": "pager"}]))
    assert problems == [
        "dr_plan.security.quarantine has unknown key(s) firewall; the keys are nftables, security_groups",
        "dr_plan.security.quarantine.security_groups entry 1 needs instance_ids, a list of the EC2 instances to quarantine",
        "dr_plan.security.quarantine.security_groups entry 1 needs quarantine_group_id, the security group that replaces "
        "the instances' groups",
        "dr_plan.security.quarantine.nftables entry 1 needs host, the inventory host whose inbound traffic is blocked",
        "dr_plan.security.quarantine.nftables entry 1 allow 1 has ports ['ssh']; give a list of TCP port numbers",
        "dr_plan.security.team_notifications entry 1 has type 'pager'; use webhook, slack or email",
    ]


def test_the_security_teams_webhook_url_is_a_secret():
    url = "https://hooks.example.com/services/T000/B000/XXXX"
    assert url in secret_values(with_security(team_notifications=[{"type": "slack", "url": url}]))
    marked = with_security(team_notifications=[{"type": "webhook", "url": "<resilience.dr undefined variable> vault_sec"}])
    assert undefined_needed(marked, uses=["components"]) == [], "a secret of a part the run does not use is not needed"
    assert "the plan's security needs the variable vault_sec" in undefined_needed(marked, uses=["security"])[0]
