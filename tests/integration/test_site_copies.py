# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups leave the site they protect: the backup playbook copies every new
verified backup from the primary's repository to the secondary's, verifies it
there and reports the copy lag; a secondary repository that cannot be reached
fails the run loudly after the backups succeeded, and the next run catches up;
level 3 says (also in check mode) which copy each component comes from and
stops before moving DNS when a component's data is older than its RPO."""

from __future__ import annotations

import copy
import typing as t
from pathlib import Path

import pytest
import yaml

from .conftest import LAB_DIR
from .lab_dns import answer, set_record

REPOSITORY_COMPONENTS = ("orders-db", "sessions", "uploads")


@pytest.fixture(scope="module")
def plan(lab) -> dict[str, t.Any]:
    return yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())


def repositories(plan: dict[str, t.Any]) -> tuple[str, str]:
    dr_plan = plan["dr_plan"]
    return dr_plan["repository"]["location"], dr_plan["sites"]["secondary"]["repository"]["location"]


def newest(ansible, repository: str) -> dict[str, dict[str, t.Any]]:
    info = ansible.module("resilience.dr.backup_info", {"repository": repository})
    assert not info["failed"], info["msg"]
    return info["components"]


def test_the_backup_playbook_copies_verifies_and_reports_the_lag(ansible, lab, plan):
    primary, secondary = repositories(plan)
    run = ansible.playbook("playbooks/backup.yml", plan)
    assert run.ok, run.tail()
    at_primary, at_secondary = newest(ansible, primary), newest(ansible, secondary)
    for name in REPOSITORY_COMPONENTS:
        assert at_secondary[name]["newest_backup_id"] == at_primary[name]["newest_backup_id"], name
        # Verified at the secondary too, not only where it was taken.
        assert at_secondary[name]["newest_verified_backup_id"] == at_primary[name]["newest_backup_id"], name
        assert at_secondary[name]["newest_copied_from"] == primary and at_secondary[name]["newest_copied_at"]
        assert at_primary[name]["newest_copied_from"] is None
    [lag] = [item["msg"] for item in run.result("Show how far each site's repository is behind")["results"]]
    assert lag.startswith("secondary:") and lag.count("(lag 0 s)") == len(REPOSITORY_COMPONENTS), lag
    files = [path for path in Path(secondary).rglob("*") if path.is_file()]
    assert files and all(path.stat().st_mode & 0o077 == 0 for path in files), "copies must be private (0600)"


def test_an_unreachable_secondary_fails_loudly_after_the_backups_and_the_next_run_catches_up(ansible, lab, plan, tmp_path):
    primary, secondary = repositories(plan)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("the secondary's storage is gone\n")
    cut_off = copy.deepcopy(plan)
    cut_off["dr_plan"]["sites"]["secondary"]["repository"]["location"] = str(blocker / "repository")
    before = newest(ansible, primary)

    failed = ansible.playbook("playbooks/backup.yml", cut_off)
    assert not failed.ok
    assert "copying them to another site failed: secondary" in failed.stdout, failed.tail()
    after = newest(ansible, primary)
    for name in REPOSITORY_COMPONENTS:
        assert after[name]["newest_backup_id"] != before[name]["newest_backup_id"], f"{name} was not backed up"
        assert after[name]["newest_verified_backup_id"] == after[name]["newest_backup_id"], name

    caught_up = ansible.playbook("playbooks/backup.yml", plan)
    assert caught_up.ok, caught_up.tail()
    at_secondary = {entry["backup_id"] for entry in ansible.module(
        "resilience.dr.backup_info", {"repository": secondary})["backups"]}
    for name in REPOSITORY_COMPONENTS:
        assert after[name]["newest_backup_id"] in at_secondary, f"the missed backup of {name} was not copied later"


def test_level3_check_mode_names_the_copy_each_component_comes_from(ansible, lab, plan):
    primary, secondary = repositories(plan)
    run = ansible.playbook("playbooks/level3_site.yml", plan, check=True)
    assert run.ok, run.tail()
    shown = {item["item"]["component"]: item["msg"] for item in run.result("Show where each component comes from")["results"]}
    assert set(shown) == set(REPOSITORY_COMPONENTS)
    for name, message in shown.items():
        assert f"in {secondary}, copied from {primary}" in message, message


@pytest.fixture
def dns_back(lab):
    yield
    set_record(lab, [lab["sites"]["primary"]["address"]], 300)


def test_level3_stops_before_dns_when_a_copy_is_older_than_the_rpo_unless_skipped(ansible, lab, plan, dns_back):
    strict = copy.deepcopy(plan)
    for component in strict["dr_plan"]["components"]:
        if component["name"] == "sessions":
            component["rpo"] = "1s"
    before = answer(lab)[0]
    # Only the DNS stage: it reads what the secondary's repository holds, as the AWX workflow's last stage does.
    stopped = ansible.playbook("playbooks/level3_site.yml", {**strict, "confirm": "yes"}, tags="dns_failover")
    assert not stopped.ok
    assert "Traffic was not moved: sessions: backup" in stopped.stdout and "RPO 1 s" in stopped.stdout, stopped.tail()
    assert answer(lab)[0] == before

    skipped = ansible.playbook("playbooks/level3_site.yml",
                               {**strict, "confirm": "yes", "skip_gates": ["rpo", "health"]}, tags="dns_failover")
    assert skipped.ok, skipped.tail()
    assert "the RPO gate is skipped (skip_gates: [rpo]): sessions" in skipped.stdout
    assert answer(lab)[0] == [lab["sites"]["secondary"]["address"]]
