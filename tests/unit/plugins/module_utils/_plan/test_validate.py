# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR plan: problems listed with names, dependency order, site resolution."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._plan import (
    REDACTED,
    UNDEFINED_MARKER,
    PlanError,
    batches,
    find_cycle,
    redact,
    resolve,
    restore_steps,
    restore_target,
    secret_values,
    secrets,
    targets_overlap,
    undefined_needed,
    validate,
)

PLAN = json.loads((Path(__file__).parent / "fixtures" / "plan_shopfront.json").read_text())


def plan(**changes):
    copied = copy.deepcopy(PLAN)
    copied.update(changes)
    return copied


def test_the_example_plan_is_valid():
    assert validate(PLAN) == []


def test_resolving_for_a_site_applies_its_overrides():
    resolved = resolve(PLAN, "secondary")
    database = resolved["components"]["orders-db"]
    assert database["connection"] == {"login_host": "db1.dr", "login_port": 5432, "db": "shopfront"}
    assert database["rpo_seconds"] == 900 and database["rto_seconds"] == 3600 and database["host"] == "localhost"
    assert resolved["services"]["api"]["start_command"] == ["systemctl", "start", "api-dr"]
    assert resolved["repository"] == {"repository": "s3://acme-dr-west/prod", "region": "eu-west-2", "encryption_recipients": ["age1example"]}
    assert resolve(PLAN, "primary")["components"]["orders-db"]["connection"]["login_host"] == "db1"


def test_each_site_has_its_repository_and_copies_to_the_others():
    primary = resolve(PLAN, "primary")
    assert primary["repository"] == {"repository": "s3://acme-dr/prod", "region": "eu-west-1", "encryption_recipients": ["age1example"]}
    assert primary["repositories"]["secondary"]["repository"] == "s3://acme-dr-west/prod"
    assert primary["copy_to"] == ["secondary"]
    assert resolve(PLAN, "secondary")["copy_to"] == ["primary"]
    assert primary["warnings"] == []


def test_one_repository_for_every_site_is_refused_unless_accepted_with_a_reason():
    shared = plan()
    shared["sites"]["secondary"].pop("repository")
    problems = validate(shared)
    assert any("every site keeps its backups in one repository" in problem for problem in problems)
    shared["single_repository"] = "accepted"
    assert any("needs single_repository_reason" in problem for problem in validate(shared))
    shared["single_repository_reason"] = "both sites share a replicated object store"
    assert validate(shared) == []
    resolved = resolve(shared, "secondary")
    assert resolved["copy_to"] == []
    assert resolved["warnings"] == [
        "every site keeps its backups in one repository (single_repository: accepted, because: both sites share a replicated object store)"
    ]


def test_the_same_bucket_in_another_region_or_endpoint_is_another_place():
    moved = plan()
    moved["sites"]["secondary"]["repository"] = {"region": "eu-west-2"}
    assert validate(moved) == []
    assert resolve(moved)["copy_to"] == ["secondary"]
    local = plan(repository={"location": "/srv/backups/"})
    local["sites"]["secondary"]["repository"] = {"location": "/srv/backups"}
    assert any("one repository" in problem for problem in validate(local))


def test_unknown_repository_keys_are_named():
    typo = plan()
    typo["repository"]["encryption_recipient"] = ["age1example"]
    typo["sites"]["secondary"]["repository"]["lock_timout"] = 5
    problems = validate(typo)
    assert any(problem.startswith("dr_plan.repository has unknown key(s) encryption_recipient;") for problem in problems)
    assert any(problem.startswith("site secondary repository has unknown key(s) lock_timout;") for problem in problems)


def test_a_site_without_any_location_is_named():
    lost = plan(repository={"region": "eu-west-1"})
    assert any("no location for site(s) primary" in problem for problem in validate(lost))


def test_restore_and_start_order():
    resolved = resolve(PLAN)
    assert resolved["restore_batches"] == [["orders-db", "sessions", "assets"], ["uploads"]]
    assert resolved["service_batches"] == [["api"], ["worker"]]
    assert resolved["dependants"]["orders-db"] == {"components": ["uploads"], "services": ["api", "worker"]}
    assert resolved["dns_records"][0]["site_values"] == {"primary": ["192.0.2.10"], "secondary": ["198.51.100.10"]}


def test_every_problem_is_listed_at_once():
    broken = plan()
    broken["components"][0]["depends_on"] = ["billing-db"]
    broken["components"][1].pop("backup")
    broken["components"][2]["kind"] = "mongodb"
    broken["components"][3]["rpo"] = "a while"
    broken["services"][1]["requires"] = ["queue"]
    broken["sites"]["secondary"]["components"]["ledger"] = {}
    with pytest.raises(PlanError) as failure:
        resolve(broken)
    problems = failure.value.details["problems"]
    assert problems == [
        "component orders-db depends on billing-db, which is not a component of the plan",
        "component sessions has no backup: every component needs one (backup.method: rdb|online)",
        "component uploads has kind 'mongodb'; use one of postgresql, rds, redis, files, s3",
        "component assets rpo 'a while' is not a duration; write it like 90s, 15m, 36h, 7d or 2w3d",
        "service worker requires queue, which is not a component of the plan",
        "site secondary overrides component ledger, which is not a component of the plan",
    ]
    assert str(failure.value).startswith("dr_plan has 6 problem(s):\n- component orders-db depends on billing-db")


def test_a_dependency_cycle_is_shown_as_a_path():
    cyclic = plan()
    cyclic["components"][0]["depends_on"] = ["uploads"]
    assert "components depend on each other in a cycle: orders-db -> uploads -> orders-db" in validate(cyclic)


def test_find_cycle_and_batches():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]
    assert batches({"a": [], "b": ["a"], "c": [], "d": ["b", "c"]}, ["a", "b", "c", "d"]) == [["a", "c"], ["b"], ["d"]]


def test_unknown_site_is_named():
    with pytest.raises(PlanError, match="site tertiary is not in dr_plan.sites"):
        resolve(PLAN, "tertiary")


def test_repository_components_need_a_repository():
    assert any(problem.startswith("dr_plan.repository.location is required: postgresql, redis and files components back up into it")
               for problem in validate(plan(repository={})))


def test_restore_steps_run_a_batch_together_where_targets_differ():
    resolved = resolve(PLAN)
    assert resolved["restore_steps"] == [["orders-db", "sessions", "assets"], ["uploads"]]


def _component(name, kind, connection, **extra):
    return {"name": name, "kind": kind, "host": "localhost", "connection": connection, **extra}


def test_restore_steps_never_put_one_target_twice_in_a_step():
    components = {
        "orders-db": _component("orders-db", "postgresql", {"login_host": "db1", "login_port": 5432, "db": "orders"}),
        "billing-db": _component("billing-db", "postgresql", {"login_host": "db1", "login_port": 5432, "db": "billing"}),
        "reports-db": _component("reports-db", "postgresql", {"login_host": "db2", "login_port": 5432, "db": "reports"}),
        "uploads": _component("uploads", "files", {"path": "/srv/app/uploads"}),
        "media": _component("media", "files", {"path": "/srv/app/uploads/media/"}),
        "sessions": _component("sessions", "redis", {"login_host": "cache1"}),
        "queue": _component("queue", "redis", {"login_host": "cache1", "login_port": 6379}),
    }
    batch = list(components)
    assert restore_steps([batch], components) == [
        ["orders-db", "reports-db", "uploads", "sessions"],
        ["billing-db", "media", "queue"],
    ]


def test_restore_steps_keep_batch_order_and_honour_parallel_false():
    components = {
        "a": _component("a", "postgresql", {"login_host": "db1"}),
        "b": _component("b", "redis", {"login_host": "cache1"}, restore={"parallel": False}),
        "c": _component("c", "files", {"path": "/srv/c"}),
        "d": _component("d", "files", {"path": "/srv/d"}),
    }
    assert restore_steps([["a", "b", "c"], ["d"]], components) == [["a", "c"], ["b"], ["d"]]


def test_restore_targets_of_other_kinds():
    s3 = _component("assets", "s3", {"bucket": "acme-assets"})
    s3_copy = _component("assets-copy", "s3", {"bucket": "other"}, restore={"target_bucket": "acme-assets"})
    assert targets_overlap(restore_target(s3), restore_target(s3_copy))
    rds = _component("ledger", "rds", {"db_instance_identifier": "ledger", "region": "eu-west-1"})
    assert not targets_overlap(restore_target(rds), restore_target(s3))
    other_host = _component("uploads", "files", {"path": "/srv/app/uploads"}, host="web2")
    assert not targets_overlap(restore_target(other_host), restore_target(_component("u", "files", {"path": "/srv/app"})))


def test_restore_parallel_must_be_a_boolean():
    broken = plan()
    broken["components"][0]["restore"] = {"parallel": "no"}
    assert "component orders-db has restore.parallel 'no'; write true or false" in validate(broken)


def plan_with_secrets():
    copied = copy.deepcopy(PLAN)
    copied["repository"].update(secret_key="repo-secret", access_key="repo-access", encryption_identity="AGE-SECRET-KEY-1X")
    copied["components"][0]["connection"]["login_password"] = "primary-db-password"
    copied["sites"]["secondary"]["components"]["orders-db"]["connection"]["login_password"] = "secondary-db-password"
    copied["dns"]["tsig_key_secret"] = "tsig-secret"
    copied["notifications"][0]["url"] = "https://hooks.example.com/services/T0/B0/token"
    return copied


@pytest.mark.parametrize("site, password", [("primary", "primary-db-password"), ("secondary", "secondary-db-password")])
def test_redacted_plan_holds_no_secret_and_secrets_are_where_resolve_puts_them(site, password):
    plan = plan_with_secrets()
    resolved = resolve(plan, site)
    redacted = redact(resolved)
    text = json.dumps(redacted)
    for secret in ("repo-secret", "repo-access", "AGE-SECRET-KEY-1X", "primary-db-password", "secondary-db-password"):
        assert secret not in text
    assert redacted["components"]["orders-db"]["connection"]["login_password"] == REDACTED
    assert redacted["repository"]["secret_key"] == REDACTED
    # Everything else is the resolved plan as it was.
    assert redacted["components"]["orders-db"]["connection"]["login_host"] == resolved["components"]["orders-db"]["connection"]["login_host"]
    assert redacted["restore_steps"] == resolved["restore_steps"]

    found = secrets(plan, site)
    assert found["components"]["orders-db"] == {"connection": {"login_password": password}}
    assert found["repository"] == {"secret_key": "repo-secret", "access_key": "repo-access", "encryption_identity": "AGE-SECRET-KEY-1X"}
    assert "sessions" not in found["components"]  # nothing secret there


def test_secret_values_finds_every_secret_of_the_raw_plan():
    values = secret_values(plan_with_secrets())
    assert values == {"repo-secret", "repo-access", "AGE-SECRET-KEY-1X", "primary-db-password", "secondary-db-password",
                      "tsig-secret", "https://hooks.example.com/services/T0/B0/token"}


def test_secrets_of_a_broken_plan_raise_the_plan_problems():
    broken = plan_with_secrets()
    broken["components"][0]["depends_on"] = ["nothing"]
    with pytest.raises(PlanError, match="depends on nothing"):
        secrets(broken, "primary")


def plan_with_rds(**ledger_backup):
    """The example plan with an rds component in eu-west-1, its secondary site in eu-central-1 and a third site."""
    copied = copy.deepcopy(PLAN)
    copied["components"].append({
        "name": "ledger", "kind": "rds",
        "connection": {"db_instance_identifier": "ledger", "region": "eu-west-1"},
        "restore": {"source_db_instance_identifier": "ledger-prod"},
        "backup": {"method": "snapshot", **ledger_backup},
    })
    copied["sites"]["secondary"]["components"]["ledger"] = {
        "connection": {"region": "eu-central-1", "endpoint_url": "https://rds.eu-central-1.example"},
        "backup": {"kms_key_id": "arn:aws:kms:eu-central-1:111122223333:key/dr"},
    }
    copied["sites"]["standby"] = {"address": "203.0.113.30"}  # same region as the primary: no copy
    return copied


def test_an_rds_backup_copies_to_every_site_in_another_region_with_that_sites_key():
    primary = resolve(plan_with_rds(), "primary")["components"]["ledger"]
    assert primary["copies"] == [{
        "site": "secondary", "region": "eu-central-1", "endpoint_url": "https://rds.eu-central-1.example",
        "kms_key_id": "arn:aws:kms:eu-central-1:111122223333:key/dr",
    }]
    assert primary["restore"]["source"] == "point_in_time"
    # Backing up from the secondary copies back to the primary's region (and the standby's, the same one).
    secondary = resolve(plan_with_rds(), "secondary")["components"]["ledger"]
    assert [(copy_["site"], copy_["region"], copy_["endpoint_url"], copy_["kms_key_id"]) for copy_ in secondary["copies"]] == [
        ("primary", "eu-west-1", None, None), ("standby", "eu-west-1", None, None)]


def test_a_key_for_every_region_can_be_given_once_as_an_alias():
    resolved = resolve(plan_with_rds(kms_key_id="alias/dr-backups"), "primary")["components"]["ledger"]
    assert resolved["copies"][0]["kms_key_id"] == "arn:aws:kms:eu-central-1:111122223333:key/dr"  # the site's own wins
    changed = plan_with_rds(kms_key_id="alias/dr-backups")
    del changed["sites"]["secondary"]["components"]["ledger"]["backup"]
    assert resolve(changed, "primary")["components"]["ledger"]["copies"][0]["kms_key_id"] == "alias/dr-backups"


def test_a_site_away_from_the_primary_region_restores_rds_from_a_snapshot():
    assert resolve(plan_with_rds(), "secondary")["components"]["ledger"]["restore"]["source"] == "snapshot"
    assert resolve(plan_with_rds(), "standby")["components"]["ledger"]["restore"]["source"] == "point_in_time"
    forced = plan_with_rds()
    forced["components"][-1]["restore"]["source"] = "snapshot"
    assert resolve(forced, "primary")["components"]["ledger"]["restore"]["source"] == "snapshot"
    # Other kinds get neither key.
    assert "copies" not in resolve(plan_with_rds(), "primary")["components"]["orders-db"]


def test_rds_restore_source_and_kms_key_are_checked_on_every_site():
    broken = plan_with_rds()
    broken["components"][-1]["restore"]["source"] = "latest"
    broken["sites"]["secondary"]["components"]["ledger"]["backup"]["kms_key_id"] = ""
    problems = validate(broken)
    assert "component ledger has restore.source 'latest'; use one of point_in_time, snapshot" in problems
    assert any(problem.startswith("site secondary component ledger has backup.kms_key_id ''") for problem in problems)


def plan_with_standby(**secondary_restore):
    cluster = {"name": "orders-cluster", "kind": "postgresql", "connection": {"login_host": "db1"},
               "backup": {"method": "physical", "stanza": "main"},
               "restore": {"data_dir": "/var/lib/postgresql/15/main", "port": 5432}}
    copied = plan(components=[*PLAN["components"], cluster])
    copied["sites"]["secondary"].setdefault("components", {})["orders-cluster"] = {
        "restore": {"data_dir": "/var/lib/postgresql/15/standby", "port": 5433, **secondary_restore}}
    return copied


def test_a_backup_keeps_the_warm_standby_of_another_site_only():
    standby = plan_with_standby(standby=True)
    assert validate(standby) == []
    assert resolve(standby, "primary")["standbys"] == [{"site": "secondary", "component": "orders-cluster"}]
    # The secondary keeps no standby of itself; a backup taken there has none to keep.
    assert resolve(standby, "secondary")["standbys"] == []
    assert resolve(standby, "secondary")["components"]["orders-cluster"]["restore"]["standby"] is True
    assert resolve(plan_with_standby(), "primary")["standbys"] == []


def test_a_standby_needs_a_physical_postgresql_component_with_a_data_directory_and_a_port():
    assert validate(plan_with_standby(standby=True, port=None)) == [
        "component orders-cluster has restore.standby on site secondary without restore.port: "
        "say where the standby runs there"]
    assert "write true or false" in validate(plan_with_standby(standby="yes"))[0]
    logical = plan_with_standby(standby=True)
    logical["components"][-1]["backup"] = {"method": "logical"}
    assert validate(logical) == [
        "component orders-cluster has restore.standby on site secondary, but only a physical PostgreSQL "
        "component (backup.method: physical, pgBackRest) can have a warm standby"]


# --------------------------------------------------------------------------
# consistency hooks (backup.hooks)


def with_hooks(plan_hooks=None, **component_hooks):
    """The example plan with backup.hooks at the plan level and on the named components."""
    changed = plan()
    if plan_hooks is not None:
        changed["backup"] = {"hooks": plan_hooks}
    for component in changed["components"]:
        if component["name"] in component_hooks:
            component["backup"]["hooks"] = component_hooks[component["name"]]
    return changed


def test_hooks_get_their_defaults_and_component_hooks_run_on_the_component_host():
    hooked = with_hooks(
        {"pre": [{"name": "pause writes", "command": ["shopfront-ctl", "pause", 30], "timeout": "2m"}],
         "post": [{"tasks": "hooks/resume.yml", "host": "app1", "check_safe": True}]},
        sessions={"pre": [{"command": ["redis-cli", "CLIENT", "PAUSE", "30000"], "chdir": "/tmp"}]},
    )
    hooked["components"][1]["host"] = "cache1"
    assert validate(hooked) == []
    resolved = resolve(hooked, "primary")
    assert resolved["backup"]["hooks"] == {
        "pre": [{"name": "pause writes", "kind": "command", "command": ["shopfront-ctl", "pause", "30"], "chdir": None,
                 "tasks": None, "timeout": 120, "host": None, "check_safe": False}],
        "post": [{"name": "hooks/resume.yml", "kind": "tasks", "command": None, "chdir": None,
                  "tasks": "hooks/resume.yml", "timeout": 300, "host": "app1", "check_safe": True}],
    }
    sessions = resolved["components"]["sessions"]["backup"]
    assert sessions["method"] == "rdb"
    assert sessions["hooks"]["post"] == []
    assert sessions["hooks"]["pre"] == [{
        "name": "redis-cli CLIENT PAUSE 30000", "kind": "command", "command": ["redis-cli", "CLIENT", "PAUSE", "30000"],
        "chdir": "/tmp", "tasks": None, "timeout": 300, "host": "cache1", "check_safe": False,
    }]
    assert resolved["components"]["orders-db"]["backup"]["hooks"] == {"pre": [], "post": []}


def test_a_plan_without_hooks_resolves_to_empty_hook_lists():
    resolved = resolve(PLAN, "primary")
    assert resolved["backup"] == {"hooks": {"pre": [], "post": []}}
    assert all(component["backup"]["hooks"] == {"pre": [], "post": []} for component in resolved["components"].values())


def test_a_hook_command_given_as_a_shell_string_is_refused_with_the_list_to_write():
    problems = validate(with_hooks({"pre": [{"command": "shopfront-ctl pause --all"}]}))
    assert problems == [
        "dr_plan.backup.hooks.pre[1].command is the string 'shopfront-ctl pause --all'; write it as a list of "
        "arguments (command: ['shopfront-ctl', 'pause', '--all']): hooks never run through a shell"
    ]
    with pytest.raises(PlanError, match=r"component sessions backup.hooks.post\[1\].command is the string"):
        resolve(with_hooks(sessions={"post": [{"command": "redis-cli CLIENT UNPAUSE"}]}), "primary")


def test_hook_mistakes_are_listed_with_their_path():
    problems = validate(with_hooks(
        {"pre": [{"command": ["true"], "tasks": "x.yml"}, {"name": "nothing"}, "pause"], "during": []},
        **{"orders-db": {"post": [{"command": [], "timeout": 0}, {"command": ["true"], "check_safe": "yes", "shell": True}]},
           "uploads": {"pre": {"command": ["sync"]}}},
    ))
    assert problems == [
        "dr_plan.backup.hooks has unknown key(s) during; the keys are pre and post",
        "dr_plan.backup.hooks.pre[1] needs exactly one of command (an argument list) or tasks (a task file)",
        "dr_plan.backup.hooks.pre[2] needs exactly one of command (an argument list) or tasks (a task file)",
        "dr_plan.backup.hooks.pre[3] must be a mapping with command (an argument list) or tasks (a task file)",
        "component orders-db backup.hooks.post[1].command must be a non-empty list of arguments (strings), like "
        "[systemctl, stop, app]",
        "component orders-db backup.hooks.post[1].timeout must be more than 0 seconds",
        "component orders-db backup.hooks.post[2] has unknown key(s) shell; the keys are chdir, check_safe, command, "
        "host, name, tasks, timeout",
        "component orders-db backup.hooks.post[2].check_safe is 'yes'; write true or false",
        "component uploads backup.hooks.pre must be a list of hooks (each with command or tasks)",
    ]


def test_hook_timeouts_chdir_and_the_plan_backup_mapping_are_checked():
    problems = validate(with_hooks({"pre": [{"command": ["true"], "timeout": "soon"},
                                            {"tasks": "pause.yml", "chdir": "/srv"},
                                            {"command": ["true"], "timeout": True, "host": ""}]}))
    assert problems == [
        "dr_plan.backup.hooks.pre[1].timeout 'soon' is not a duration; write it like 90s, 15m, 36h, 7d or 2w3d",
        "dr_plan.backup.hooks.pre[2].chdir must be a directory (a string), and only goes with command",
        "dr_plan.backup.hooks.pre[3].host must be a non-empty string",
        "dr_plan.backup.hooks.pre[3].timeout is True; give seconds (300) or a duration (5m)",
    ]
    assert validate(plan(backup={"hook": {}})) == ["dr_plan.backup has unknown key(s) hook; the keys are hooks"]
    assert validate(plan(backup=["hooks"])) == ["dr_plan.backup must be a mapping (hooks)"]


def test_a_site_override_of_a_component_hooks_is_checked_and_used_there():
    hooked = plan()
    hooked["sites"]["secondary"]["components"]["orders-db"]["backup"] = {"hooks": {"pre": [{"command": "psql -c checkpoint"}]}}
    assert validate(hooked)[0].startswith("site secondary component orders-db backup.hooks.pre[1].command is the string")
    hooked["sites"]["secondary"]["components"]["orders-db"]["backup"]["hooks"]["pre"][0]["command"] = ["psql", "-c", "checkpoint"]
    assert validate(hooked) == []
    assert resolve(hooked, "secondary")["components"]["orders-db"]["backup"]["hooks"]["pre"][0]["command"] == ["psql", "-c", "checkpoint"]
    assert resolve(hooked, "secondary")["components"]["orders-db"]["backup"]["method"] == "logical"
    assert resolve(hooked, "primary")["components"]["orders-db"]["backup"]["hooks"]["pre"] == []


def test_components_without_a_schedule_share_the_plans_backup_schedule():
    resolved = resolve(PLAN)
    assert resolved["components"]["orders-db"]["backup"]["schedule"] == "daily"
    # The s3 component's object versions are its backups: no run backs it up.
    assert resolved["schedules"] == {
        "backup": [{"schedule": "daily", "components": ["orders-db", "sessions", "uploads"]}],
        "restore_test": "daily",
        "rpo_check": "hourly",
    }
    hourly = resolve(plan(backup_schedule="hourly", restore_test_schedule="Sat 04:00", rpo_check_schedule="*:0/15"))
    assert hourly["schedules"] == {
        "backup": [{"schedule": "hourly", "components": ["orders-db", "sessions", "uploads"]}],
        "restore_test": "Sat 04:00",
        "rpo_check": "*:0/15",
    }


def test_components_with_the_same_schedule_share_one_backup_run():
    changed = copy.deepcopy(PLAN)
    changed["backup_schedule"] = "*-*-* 02:00:00"
    changed["components"][0]["backup"]["schedule"] = "*:0/15"
    changed["components"][2]["backup"]["schedule"] = "*:0/15"
    resolved = resolve(changed)
    assert resolved["schedules"]["backup"] == [
        {"schedule": "*:0/15", "components": ["orders-db", "uploads"]},
        {"schedule": "*-*-* 02:00:00", "components": ["sessions"]},
    ]
    assert resolved["components"]["sessions"]["backup"]["schedule"] == "*-*-* 02:00:00"


def test_a_site_may_back_up_a_component_on_its_own_schedule():
    changed = copy.deepcopy(PLAN)
    changed["sites"]["secondary"]["components"]["orders-db"]["backup"] = {"schedule": "hourly"}
    assert resolve(changed, "secondary")["schedules"]["backup"] == [
        {"schedule": "hourly", "components": ["orders-db"]},
        {"schedule": "daily", "components": ["sessions", "uploads"]},
    ]
    assert resolve(changed, "primary")["components"]["orders-db"]["backup"]["schedule"] == "daily"


@pytest.mark.parametrize("schedule", ["", "   ", 15, ["daily"], "daily\nExecStartPre=/bin/sh", "daily\x00"])
def test_a_schedule_that_is_not_one_line_of_text_is_a_problem(schedule):
    changed = copy.deepcopy(PLAN)
    changed["rpo_check_schedule"] = schedule
    changed["components"][1]["backup"]["schedule"] = schedule
    changed["sites"]["secondary"]["components"]["orders-db"]["backup"] = {"schedule": schedule}
    problems = validate(changed)
    assert [problem.split(" is ", maxsplit=1)[0] for problem in problems] == [
        "dr_plan.rpo_check_schedule", "component sessions backup.schedule",
        "site secondary component orders-db backup.schedule",
    ]
    assert "systemd calendar expression on one line" in problems[0]


def test_restore_test_settings_merge_over_the_plan_and_keep_the_server_password_secret():
    settings = plan(restore_test={"base_dir": "/var/tmp", "server": {"login_host": "scratch-db", "login_password": "s3cret"}})
    settings["components"][0]["restore_test"] = {"base_dir": "/srv/restore-test"}
    resolved = redact(resolve(settings))  # as plan_validate and the plan role hand it out
    first = settings["components"][0]["name"]
    assert resolved["components"][first]["restore_test"]["base_dir"] == "/srv/restore-test"
    assert resolved["components"][first]["restore_test"]["server"]["login_host"] == "scratch-db"
    assert resolved["components"][first]["restore_test"]["server"]["login_password"] == REDACTED
    assert secrets(settings)["components"][first]["restore_test"]["server"]["login_password"] == "s3cret"


def test_unknown_restore_test_keys_are_named():
    problems = validate(plan(restore_test={"basedir": "/var/tmp", "server": {"host": "x"}}))
    assert any(problem.startswith("dr_plan.restore_test has unknown key(s) basedir; the keys are base_dir,")
               for problem in problems), problems
    assert any(problem.startswith("dr_plan.restore_test.server has unknown key(s) host; the keys are db, login_host,")
               for problem in problems), problems
    assert "dr_plan.restore_test must be a mapping" in validate(plan(restore_test="/var/tmp"))[0]


def plan_with_undefined():
    """The shopfront plan as mark_undefined hands it on when no vault variable is defined."""
    copied = copy.deepcopy(PLAN)
    copied["repository"]["secret_key"] = UNDEFINED_MARKER + "vault_repository_secret_key"
    copied["components"][0]["connection"]["login_password"] = UNDEFINED_MARKER + "vault_orders_db_password"
    copied["components"][1]["connection"]["login_password"] = UNDEFINED_MARKER + "vault_sessions_password"
    copied["sites"]["secondary"]["components"]["orders-db"]["connection"]["login_password"] = (
        UNDEFINED_MARKER + "vault_dr_orders_db_password")
    copied["dns"]["tsig_key_secret"] = UNDEFINED_MARKER + "vault_tsig_secret"
    copied["notifications"][0]["url"] = UNDEFINED_MARKER + "vault_slack_incident_webhook"
    return copied


def needed_variables(**run):
    problems = undefined_needed(plan_with_undefined(), **run)
    return sorted(name for name in ("vault_repository_secret_key", "vault_orders_db_password", "vault_sessions_password",
                                    "vault_dr_orders_db_password", "vault_tsig_secret", "vault_slack_incident_webhook")
                  if any(f"variable {name} " in problem for problem in problems))


def test_a_run_needs_the_secrets_of_the_parts_it_uses_and_of_its_site_alone():
    assert needed_variables() == ["vault_orders_db_password", "vault_repository_secret_key", "vault_sessions_password",
                                  "vault_slack_incident_webhook", "vault_tsig_secret"]
    assert needed_variables(site="secondary") == ["vault_dr_orders_db_password", "vault_repository_secret_key",
                                                  "vault_sessions_password", "vault_slack_incident_webhook",
                                                  "vault_tsig_secret"]
    # A check run of one component: that component's secret and the repository's, nothing else.
    assert needed_variables(components=["orders-db"], uses=["repository", "components"]) == [
        "vault_orders_db_password", "vault_repository_secret_key"]
    assert needed_variables(components=["uploads"], uses=["components"]) == []
    assert needed_variables(uses=["dns"]) == ["vault_tsig_secret"]


def test_an_undefined_secret_the_run_needs_is_named_with_its_component():
    problems = undefined_needed(plan_with_undefined(), components=["sessions"], uses=["components"])
    assert problems == [
        "component sessions needs the variable vault_sessions_password (components[sessions].connection.login_password), "
        "which is not defined; define it, for example in a vault file given with -e @secrets.yml --ask-vault-password"
    ]
    with pytest.raises(PlanError, match="vault_sessions_password"):
        raise PlanError(problems)


def test_an_undefined_value_outside_the_secrets_is_needed_by_every_run():
    copied = plan_with_undefined()
    copied["components"][2]["connection"]["path"] = UNDEFINED_MARKER + "uploads_path"
    problems = undefined_needed(copied, components=["orders-db"], uses=["components"])
    assert len(problems) == 2 and "components[uploads].connection.path is the variable uploads_path" in problems[1]


def test_an_undefined_secret_is_no_secret_value_to_mask():
    values = secret_values(plan_with_undefined())
    assert not any(value.startswith(UNDEFINED_MARKER) for value in values)


def test_the_security_and_restore_test_secrets_are_needed_by_their_own_runs_alone():
    copied = plan_with_undefined()
    copied["security"] = {"credentials": [{"name": "db user", "aws": {"secret_key": UNDEFINED_MARKER + "vault_aws_key"}}]}
    copied["restore_test"] = {"server": {"login_password": UNDEFINED_MARKER + "vault_scratch_password"}}
    level1 = undefined_needed(copied, components=["uploads"], uses=["repository", "components", "notifications"])
    assert not any("vault_aws_key" in problem or "vault_scratch_password" in problem for problem in level1)
    assert any("the plan's security needs the variable vault_aws_key" in problem
               for problem in undefined_needed(copied, uses=["security"]))
    assert any("vault_scratch_password" in problem for problem in undefined_needed(copied, uses=["restore_test"]))
