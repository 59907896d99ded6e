# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run needs only the secrets of what it acts on: the lab's plan written as an operator writes it (every
secret a vault_* variable), run with some of those variables left out."""

from __future__ import annotations

import typing as t

import pytest
import yaml
from psycopg2 import sql

from .conftest import LAB_DIR, vaulted_lab_plan
from .test_playbooks import database, healthy


def row_counts(lab: dict[str, t.Any]) -> dict[str, int]:
    """Each table of the primary's shopfront database with its number of rows."""
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        counts = {}
        for (table,) in cursor.fetchall():
            cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            counts[table] = cursor.fetchone()[0]
    return counts


@pytest.fixture(scope="module")
def vaulted(lab) -> tuple[dict[str, t.Any], dict[str, str]]:
    return vaulted_lab_plan(yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text()))


def test_a_run_of_one_component_needs_that_components_secrets_alone(ansible, lab, vaulted):
    plan, secrets = vaulted
    only_its_own = {**plan, "vault_orders_db_password": secrets["vault_orders_db_password"]}
    backup = ansible.playbook("playbooks/backup.yml", {**only_its_own, "components": ["orders-db"]})
    assert backup.ok, backup.tail()
    assert backup.result("Back up the PostgreSQL database - orders-db")["backup_id"]

    before = row_counts(lab)
    run = ansible.playbook("playbooks/level1_component.yml", {**only_its_own, "component": "orders-db"}, check=True)
    assert run.ok, run.tail()
    assert not run.result("Restore and verify the PostgreSQL component - orders-db")["failed"]
    assert row_counts(lab) == before
    # The preview reached the database with the one secret it was given, and never showed it.
    assert secrets["vault_orders_db_password"] not in backup.stdout + run.stdout


def test_a_run_that_needs_an_undefined_secret_fails_first_naming_it_and_its_component(ansible, lab, vaulted):
    plan, secrets = vaulted
    # A real restore of sessions, given every secret but its own: refused before anything is stopped.
    given = {name: value for name, value in secrets.items() if name != "vault_sessions_password"}
    run = ansible.playbook("playbooks/level1_component.yml", {**plan, **given, "component": "sessions", "confirm": "yes"})
    assert not run.ok
    failure = run.result("Check the DR plan and resolve it for the site primary")
    assert failure["failed"]
    assert "component sessions needs the variable vault_sessions_password" in failure["msg"]
    assert run.results("Stop the services that use the component, only when it differs from its backup - sessions") == []
    assert healthy(lab)
    for value in given.values():
        assert value not in run.stdout


def test_a_check_run_of_every_component_needs_every_components_secrets(ansible, vaulted):
    plan, secrets = vaulted
    given = {name: value for name, value in secrets.items() if name != "vault_sessions_password"}
    run = ansible.playbook("playbooks/level2_application.yml", {**plan, **given}, check=True)
    assert not run.ok
    assert "component sessions needs the variable vault_sessions_password" in run.result(
        "Check the DR plan and resolve it for the site primary")["msg"]
