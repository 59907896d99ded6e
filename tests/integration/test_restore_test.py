# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore test (playbooks/restore_test.yml) on the lab's shopfront plan, with repositories of its own:
every component restores into a sandbox and passes while production stays as it was (rows, keys, files,
databases) and no sandbox is left; a flipped byte in a stored file and a dump whose owner role the sandbox
cluster lacks each fail the run naming the component, recorded as ok: false beside the backup."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import tempfile
import typing as t
import uuid
from pathlib import Path

import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from . import rds_common
from .conftest import LAB_DIR, Ansible, boto3_client
from .pg_fixtures import Pg
from .s3_common import objects, s3_component

# The RDS fixtures shared with the module tests.
cleanup = rds_common.cleanup
instance = rds_common.instance
rds = rds_common.rds

PLAYBOOK = "playbooks/restore_test.yml"


@pytest.fixture(scope="module")
def plan(tmp_path_factory, sandboxes) -> dict[str, t.Any]:
    """The lab's plan with empty repositories of its own and sandboxes in a directory of this test."""
    plan = yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())
    repositories = tmp_path_factory.mktemp("repositories")
    plan["dr_plan"]["repository"]["location"] = str(repositories / "primary")
    plan["dr_plan"]["sites"]["secondary"]["repository"]["location"] = str(repositories / "secondary")
    plan["dr_plan"]["restore_test"] = {"base_dir": str(sandboxes)}
    return plan


@pytest.fixture(scope="module")
def sandboxes() -> t.Iterator[Path]:
    """Where the sandboxes go: a directory the sandbox cluster's user (postgres) can enter, unlike pytest's."""
    path = Path(tempfile.mkdtemp(prefix="restore-test-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture(scope="module")
def backed_up(plan, tmp_path_factory) -> dict[str, t.Any]:
    run = Ansible(tmp_path_factory.mktemp("backup")).playbook("playbooks/backup.yml", plan)
    assert run.ok, run.tail()
    return plan


def production(lab: dict[str, t.Any]) -> dict[str, t.Any]:
    """What a user cares about on the primary: every database with its row checksums, the Redis keys and
    their values, the upload files and their content."""
    pg = Pg(lab["sites"]["primary"]["postgresql"])
    databases = [row[0] for row in pg.execute("postgres", "SELECT datname FROM pg_database ORDER BY 1")]
    facts = lab["sites"]["primary"]
    client = redis.Redis(host=facts["redis"]["host"], port=facts["redis"]["port"], password=facts["redis"]["password"])
    keys = {key: client.dump(key) for key in client.scan_iter(count=1000)}
    uploads = Path(facts["app"]["uploads"])
    files = {str(path.relative_to(uploads)): hashlib.sha256(path.read_bytes()).hexdigest()
             for path in sorted(uploads.rglob("*")) if path.is_file()}
    return {"databases": databases, "rows": pg.content_checksum(facts["app"]["database"]), "redis": keys, "files": files}


def backups(plan: dict[str, t.Any], component: str) -> list[Path]:
    root = Path(plan["dr_plan"]["repository"]["location"]) / component
    return sorted(path for path in root.iterdir() if (path / "manifest.json").is_file())


def record(backup: Path) -> dict[str, t.Any]:
    return json.loads((backup / "restore-test.json").read_text())


def test_check_mode_shows_the_sandboxes_and_changes_nothing(ansible, backed_up):
    base = Path(backed_up["dr_plan"]["restore_test"]["base_dir"])
    run = ansible.playbook(PLAYBOOK, backed_up, check=True)
    assert run.ok, run.tail()
    shown = " ".join(run.stdout.split())  # the default callback wraps long messages
    assert "of orders-db into a throwaway postgresql_logical sandbox" in shown, run.tail()
    assert "of sessions into a throwaway redis_online sandbox" in shown
    assert not list(base.iterdir())
    assert not any((backup / "restore-test.json").exists() for backup in backups(backed_up, "orders-db"))


def test_every_component_restores_into_a_sandbox_and_production_is_untouched(ansible, lab, backed_up, tmp_path):
    base = Path(backed_up["dr_plan"]["restore_test"]["base_dir"])
    before = production(lab)
    metrics_file = tmp_path / "resilience_dr.prom"
    reports = tmp_path / "reports"
    run = ansible.playbook(PLAYBOOK, {**backed_up, "dr_metrics_file": str(metrics_file)},
                           env={"ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report", "DR_REPORT_DIR": str(reports)})
    assert run.ok, run.tail()
    assert production(lab) == before
    assert not list(base.iterdir()), "a sandbox was left behind"
    for component in ("orders-db", "sessions", "uploads"):
        tested = record(backups(backed_up, component)[-1])
        assert tested["ok"] is True and tested["duration_s"] > 0, tested
        assert tested["by"] and tested["tested_at"]
    assert record(backups(backed_up, "orders-db")[-1])["compared"]["tables"] > 0

    written = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in text_string_to_metric_families(metrics_file.read_text()) for sample in family.samples}
    for component in ("orders-db", "sessions", "uploads"):
        assert written[("resilience_dr_restore_test_success", (("component", component),))] == 1
        assert written[("resilience_dr_restore_test_duration_seconds", (("component", component),))] > 0

    report = json.loads(next(reports.glob("*/report.json")).read_text())
    assert {test["component"]: test["ok"] for test in report["restore_tests"]} == {
        "orders-db": True, "sessions": True, "uploads": True}

    info = ansible.tasks([{"name": "Run info", "resilience.dr.backup_info": {
        "repository": backed_up["dr_plan"]["repository"]["location"], "component": "uploads", "latest": True}}], {})
    shown = info.result("Run info")
    assert shown["backups"][0]["restore_test"]["ok"] is True
    assert shown["components"]["uploads"]["last_restore_test"]["ok"] is True


def test_the_plan_document_shows_the_last_restore_test_of_each_component_on_each_site(ansible, backed_up, tmp_path):
    """After the passing test above: the primary's backups were tested, the secondary's copies never were."""
    document = tmp_path / "document"
    run = ansible.playbook("playbooks/plan_document.yml", {
        **backed_up, "plan_document_dir": str(document), "plan_document_reports_dir": str(tmp_path / "reports")})
    assert run.ok, run.tail()
    text = (document / "dr-plan.md").read_text()
    rows = {tuple(cell.strip() for cell in line.strip("|").split("|")[:2]): line
            for line in text.splitlines() if line.startswith("| ") and "restore" not in line}
    for component in ("orders-db", "sessions", "uploads"):
        tested = record(backups(backed_up, component)[-1])
        assert f"passed {tested['tested_at']} ({backups(backed_up, component)[-1].name})" in rows[(component, "primary")]
        assert "| never |" in rows[(component, "secondary")] and "(copied from " in rows[(component, "secondary")]
    assert "<h3>Backup status</h3>" in (document / "dr-plan.html").read_text()


def test_a_flipped_byte_fails_the_test_naming_the_component_and_the_file(ansible, lab, backed_up):
    newest = backups(backed_up, "uploads")[-1]
    manifest = json.loads((newest / "manifest.json").read_text())
    stored = newest / manifest["files"][0]["path"]
    original = stored.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0x01
    stored.write_bytes(bytes(damaged))
    before = production(lab)
    try:
        run = ansible.playbook(PLAYBOOK, {**backed_up, "components": ["uploads"]})
    finally:
        stored.write_bytes(original)
    assert not run.ok
    shown = " ".join(run.stdout.split())
    assert "restore test(s) failed: uploads:" in shown, run.tail()
    assert manifest["files"][0]["path"] in shown
    tested = record(newest)
    assert tested["ok"] is False and manifest["files"][0]["path"] in tested["error"]
    assert production(lab) == before
    assert not list(Path(backed_up["dr_plan"]["restore_test"]["base_dir"]).iterdir())


def verified_orders_backup(ansible, lab, plan, include_globals: bool) -> None:
    """A new verified logical backup of orders-db, the one the next restore test takes."""
    pg = Pg(lab["sites"]["primary"]["postgresql"])
    repository = plan["dr_plan"]["repository"]
    taken = ansible.tasks([
        {"name": "Run backup", "resilience.dr.pg_backup": {
            "component": "orders-db", "db": lab["sites"]["primary"]["app"]["database"], "include_globals": include_globals,
            **pg.login, "repository": repository["location"], "encryption_recipients": repository["encryption_recipients"]}},
        {"name": "Run verify", "resilience.dr.backup_verify": {
            "component": "orders-db", "repository": repository["location"],
            "encryption_identity_file": repository["encryption_identity_file"]}},
    ], {})
    assert taken.ok, taken.tail()


def test_a_dump_whose_owner_role_the_sandbox_lacks_fails_naming_the_component(ansible, lab, backed_up):
    """A real restore failure: a backup taken without its roles (include_globals: false) cannot be restored into
    a fresh cluster, which lacks the role owning the application's tables."""
    pg = Pg(lab["sites"]["primary"]["postgresql"])
    database = lab["sites"]["primary"]["app"]["database"]
    owner = pg.execute(database, "SELECT tableowner FROM pg_tables WHERE schemaname = 'public' LIMIT 1")[0][0]
    verified_orders_backup(ansible, lab, backed_up, include_globals=False)
    before = production(lab)
    run = ansible.playbook(PLAYBOOK, {**backed_up, "components": ["orders-db"]})
    assert not run.ok
    shown = " ".join(run.stdout.split())
    assert "restore test(s) failed: orders-db:" in shown, run.tail()
    assert f'role "{owner}" does not exist' in shown, run.tail()
    tested = record(backups(backed_up, "orders-db")[-1])
    assert tested["ok"] is False and f'role "{owner}" does not exist' in tested["error"]
    assert production(lab) == before
    assert not list(Path(backed_up["dr_plan"]["restore_test"]["base_dir"]).iterdir())


def test_an_unknown_component_is_refused(ansible, backed_up):
    for components in (["nope"], "nope"):
        run = ansible.playbook(PLAYBOOK, {**backed_up, "components": components})
        assert not run.ok and "The plan has no component nope;" in " ".join(run.stdout.split()), run.tail()


def test_a_failed_test_notifies(ansible, backed_up):
    from .test_roles import Hooks

    strict = copy.deepcopy(backed_up)
    hooks = Hooks()
    strict["dr_plan"]["notifications"] = [{"type": "webhook", "url": hooks.url("/dr")}]
    next(c for c in strict["dr_plan"]["components"] if c["name"] == "sessions")["restore_test"] = {
        "redis_server": "/nonexistent/redis-server"}
    try:
        run = ansible.playbook(PLAYBOOK, {**strict, "components": ["sessions"]})
    finally:
        hooks.close()
    assert not run.ok and "restore test(s) failed: sessions:" in " ".join(run.stdout.split()), run.tail()
    posted = dict(hooks.posts)["/dr"]
    assert posted["event"] == "alert" and "sessions: " in posted["message"] and "/nonexistent/redis-server" in posted["message"]
    assert [row["component"] for row in posted["details"]["failed"]] == ["sessions"]


def archive_timelines(facts: dict[str, t.Any]) -> list[str]:
    """The timeline history files in every pgBackRest repository: a restored copy that archived would add one."""
    return sorted(str(path) for repository in facts["pgbackrest_repos"] for path in Path(repository).rglob("*.history"))


def test_a_physical_backup_restores_into_its_own_data_directory_with_archiving_off(ansible, lab, backed_up):
    facts = lab["sites"]["primary"]["postgresql"]
    pg = Pg(facts)
    component = f"cluster-{uuid.uuid4().hex[:8]}"
    repository = backed_up["dr_plan"]["repository"]
    plan = copy.deepcopy(backed_up)
    plan["dr_plan"]["components"].append({
        "name": component, "kind": "postgresql", "rpo": "1h", "rto": "1h",
        "connection": {"login_host": facts["host"], "login_port": facts["port"], "login_user": facts["user"],
                       "login_password": facts["password"]},
        "backup": {"method": "physical"},
        "restore": {"stanza": facts["stanza"], "pgbackrest_config": facts["pgbackrest_config"], "os_user": facts["os_user"]},
    })
    taken = ansible.tasks([{"name": "Run backup", "resilience.dr.pg_backup": {
        **pg.login, "component": component, "method": "physical", "type": "full", "stanza": facts["stanza"],
        "pgbackrest_config": facts["pgbackrest_config"], "repository": repository["location"],
        "encryption_recipients": repository["encryption_recipients"]}}], {})
    assert taken.ok, taken.tail()
    before, timelines = production(lab), archive_timelines(facts)

    run = ansible.playbook(PLAYBOOK, {**plan, "components": [component]})
    assert run.ok, run.tail()
    tested = record(backups(plan, component)[-1])
    assert tested["ok"] is True and tested["compared"]["label"].endswith("F"), tested
    assert tested["compared"]["archive_mode"] == "off", tested
    assert production(lab) == before
    assert archive_timelines(facts) == timelines, "the restored copy pushed a timeline into the archive"
    assert not list(Path(plan["dr_plan"]["restore_test"]["base_dir"]).iterdir())


def test_an_rdb_snapshot_goes_into_a_sandbox_server_before_it_starts(ansible, lab, backed_up):
    facts = lab["sites"]["primary"]["redis"]
    repository = backed_up["dr_plan"]["repository"]
    connection = {"login_host": facts["host"], "login_port": facts["port"], "login_password": facts["password"]}
    plan = copy.deepcopy(backed_up)
    plan["dr_plan"]["components"].append({"name": "sessions-rdb", "kind": "redis", "rpo": "1h", "rto": "15m",
                                          "connection": connection, "backup": {"method": "rdb"}})
    taken = ansible.tasks([{"name": "Run backup", "resilience.dr.redis_backup": {
        **connection, "component": "sessions-rdb", "method": "rdb", "repository": repository["location"],
        "encryption_recipients": repository["encryption_recipients"]}}], {})
    assert taken.ok, taken.tail()
    before = production(lab)

    run = ansible.playbook(PLAYBOOK, {**plan, "components": ["sessions-rdb"]})
    assert run.ok, run.tail()
    tested = record(backups(plan, "sessions-rdb")[-1])
    assert tested["ok"] is True and tested["compared"]["verified"] is True, tested
    assert production(lab) == before
    assert not list(Path(plan["dr_plan"]["restore_test"]["base_dir"]).iterdir())


def test_an_s3_component_is_copied_into_a_scratch_bucket_that_is_deleted(ansible, aws, s3_bucket, backed_up):
    client = boto3_client(aws, "s3")
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    for number in range(3):
        client.put_object(Bucket=s3_bucket, Key=f"images/{number}.png", Body=f"image {number}".encode())
    before = objects(client, s3_bucket)
    buckets = {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}
    plan = copy.deepcopy(backed_up)
    plan["dr_plan"]["components"].append(s3_component(aws, s3_bucket, rpo="1h"))

    run = ansible.playbook(PLAYBOOK, {**plan, "components": ["product-images"]})
    assert run.ok, run.tail()
    copied = run.result("Restore the objects as they are now into the scratch bucket - product-images")
    assert copied["target_bucket"].startswith("resilience-dr-restore-test-") and copied["summary"], copied
    assert objects(client, s3_bucket) == before
    assert {bucket["Name"] for bucket in client.list_buckets()["Buckets"]} == buckets, "the scratch bucket was left"


def test_an_rds_component_is_restored_into_a_temporary_instance_that_is_deleted(ansible, aws, rds, instance, backed_up):
    plan = copy.deepcopy(backed_up)
    plan["dr_plan"]["components"].append({
        "name": "billing-db", "kind": "rds", "rto": "2h", "rpo": "1d", "backup": {"method": "snapshot"},
        "connection": {"db_instance_identifier": instance, **aws},
        "restore": {"source_db_instance_identifier": instance}})
    instances = {item["DBInstanceIdentifier"] for item in rds.describe_db_instances()["DBInstances"]}

    run = ansible.playbook(PLAYBOOK, {**plan, "components": ["billing-db"]})
    assert run.ok, run.tail()
    restored = run.result("Restore into a temporary instance - billing-db")
    assert restored["db_instance_identifier"].startswith(f"rt-{instance}-") and restored["status"] == "available"
    assert {item["DBInstanceIdentifier"] for item in rds.describe_db_instances()["DBInstances"]
            if item["DBInstanceStatus"] != "deleting"} == instances


def test_a_logical_backup_goes_into_a_scratch_database_on_the_restore_test_server(ansible, lab, backed_up):
    """restore_test.server: the secondary's cluster stands in for a server kept for restore tests."""
    server = lab["sites"]["secondary"]["postgresql"]
    scratch = Pg(server)
    plan = copy.deepcopy(backed_up)
    plan["dr_plan"]["restore_test"]["server"] = {"login_host": server["host"], "login_port": server["port"],
                                                 "login_user": server["user"], "login_password": server["password"]}
    # With its roles: the server, like any fresh cluster, may lack the application's owner role.
    verified_orders_backup(ansible, lab, plan, include_globals=True)
    databases = scratch.databases("")
    before = production(lab)

    run = ansible.playbook(PLAYBOOK, {**plan, "components": ["orders-db"]})
    task = "Restore the logical backup into the scratch database and compare every table - orders-db"
    # The roles the restore created there (the backup's, missing on that server) go too: the secondary serves
    # later tests as a fresh site.
    for created in {role for result in run.results(task) for role in result.get("roles_created") or []}:
        scratch.drop_role(created)
    assert run.ok, run.tail()
    assert server["password"] not in run.stdout
    restored = run.result(task)
    assert "_restore_test_" in restored["target_db"] and restored["verified"]["tables"] > 0
    assert scratch.databases("") == databases, "the scratch database was left on the server"
    assert record(backups(plan, "orders-db")[-1])["ok"] is True
    assert production(lab) == before
