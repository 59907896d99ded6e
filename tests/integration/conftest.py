# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration harness: run modules, roles and playbooks through
ansible-playbook (ansible-runner, the engine AWX uses) against the lab.

Tests get the lab's connection facts from the `lab` fixture and run Ansible
with the `ansible` fixture:

    result = ansible.module("resilience.dr.backup_info", {"repository": path}, check=True)
    run = ansible.playbook("playbooks/level1_component.yml", extravars={...})
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import typing as t
from pathlib import Path

import psycopg2
import pytest
import redis
import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
# `make integration` runs the tests in pytest-xdist workers, one test file at a time each (--dist loadfile), and
# gives every worker its own lab: the first worker (gw0) the lab in LAB_DIR at LAB_PORT_BASE, worker gwN the lab
# in LAB_DIR-wN at LAB_PORT_BASE + N x LAB_WORKER_PORT_STEP. Tests fail over DNS, stop servers and restore
# databases, so two workers never share a lab.
LAB_WORKER_PORT_STEP = 1000
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
if WORKER:
    os.environ["LAB_DIR"] = f"{os.environ.get('LAB_DIR', REPOSITORY_ROOT / '.lab')}-w{WORKER}"
    os.environ["LAB_PORT_BASE"] = str(int(os.environ.get("LAB_PORT_BASE", "24300")) + LAB_WORKER_PORT_STEP * WORKER)
LAB_DIR = Path(os.environ.get("LAB_DIR", REPOSITORY_ROOT / ".lab"))
# Tests seed repositories and check outcomes with the collection's own library
# (the modules under test always run through ansible-playbook).
sys.path.insert(0, str(REPOSITORY_ROOT / ".collections"))
# The playbook runs with the Python (and the ansible-playbook) of this test run.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("ANSIBLE_CONFIG", str(REPOSITORY_ROOT / "ansible.cfg"))
os.environ.setdefault("LAB_DIR", str(LAB_DIR))


class PlaybookRun:
    """The outcome of one ansible-playbook run: status, output and each task's result."""

    def __init__(self, rc: int, stdout: str, events: list[dict[str, t.Any]]) -> None:
        self.rc = rc
        self.stdout = stdout
        self.events = events

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def results(self, task: str | None = None) -> list[dict[str, t.Any]]:
        """Results of the (named) tasks in order, failures included, skips excluded."""
        found = []
        for event in self.events:
            if event.get("event") not in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable"):
                continue
            data = event["event_data"]
            if task is None or data.get("task") == task:
                result = dict(data.get("res", {}))
                result.setdefault("failed", event["event"] != "runner_on_ok")
                result["_task"] = data.get("task")
                found.append(result)
        return found

    def result(self, task: str) -> dict[str, t.Any]:
        matches = self.results(task)
        assert matches, f"task {task!r} did not run; output:\n{self.tail()}"
        return matches[-1]

    @property
    def stats(self) -> dict[str, t.Any]:
        for event in reversed(self.events):
            if event.get("event") == "playbook_on_stats":
                return event["event_data"]
        return {}

    def changed_count(self) -> int:
        return sum(self.stats.get("changed", {}).values())

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.stdout.splitlines()[-lines:])


class Ansible:
    """Runs Ansible from the repository root with its ansible.cfg."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._count = 0

    def playbook(
        self,
        playbook: str | Path,
        extravars: dict[str, t.Any] | None = None,
        *,
        check: bool = False,
        diff: bool = False,
        tags: str | None = None,
        env: dict[str, str] | None = None,
        verbosity: int = 0,
    ) -> PlaybookRun:
        import ansible_runner  # imported here so unit collection does not need it

        self._count += 1
        private = self.workdir / f"run{self._count}"
        private.mkdir(parents=True)
        cmdline = []
        if check:
            cmdline.append("--check")
        if diff:
            cmdline.append("--diff")
        envvars = {
            "ANSIBLE_CONFIG": str(REPOSITORY_ROOT / "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "LAB_DIR": str(LAB_DIR),
            "PATH": os.environ["PATH"],
            # Reports and the files runbooks write beside them stay in the run's own directory, never in the
            # repository, unless the test names its own.
            "DR_REPORT_DIR": str(private / "reports"),
        }
        envvars.update(env or {})
        path = Path(playbook)
        if not path.is_absolute():
            path = REPOSITORY_ROOT / path
        runner = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(REPOSITORY_ROOT),
            playbook=str(path),
            extravars=extravars or {},
            cmdline=shlex.join(cmdline) if cmdline else None,
            tags=tags,
            envvars=envvars,
            verbosity=verbosity,
            quiet=True,
            suppress_env_files=True,
        )
        stdout = runner.stdout.read() if runner.stdout else ""
        return PlaybookRun(runner.rc, stdout, list(runner.events))

    def tasks(
        self,
        tasks: list[dict[str, t.Any]],
        extravars: dict[str, t.Any] | None = None,
        *,
        check: bool = False,
        diff: bool = False,
        gather_facts: bool = False,
    ) -> PlaybookRun:
        """Run a list of tasks as a one-play playbook on localhost."""
        play = [{"name": "Test tasks", "hosts": "localhost", "gather_facts": gather_facts, "tasks": tasks}]
        self._count += 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"play{self._count}.yml"
        path.write_text(yaml.safe_dump(play, sort_keys=False))
        return self.playbook(path, extravars, check=check, diff=diff)

    def sequence(
        self,
        calls: list[tuple[str, dict[str, t.Any]] | tuple[str, dict[str, t.Any], dict[str, t.Any]]],
        extravars: dict[str, t.Any] | None = None,
    ) -> list[dict[str, t.Any]]:
        """Run several module calls in one playbook, each optionally with {"check": ..., "diff": ...}.

        One ansible-playbook start instead of one per call: the usual check mode ->
        apply -> again -> check mode again is a single sequence.
        """
        tasks = []
        for number, call in enumerate(calls):
            name, args = call[0], call[1]
            flags = call[2] if len(call) > 2 else {}
            tasks.append({
                "name": f"Call {number} {name}", name: args, "ignore_errors": True,
                "check_mode": bool(flags.get("check", False)), "diff": bool(flags.get("diff", False)),
            })
        run = self.tasks(tasks, extravars)
        results = []
        for number, call in enumerate(calls):
            found = run.results(f"Call {number} {call[0]}")
            assert found, f"call {number} ({call[0]}) produced no result; output:\n{run.tail()}"
            results.append(found[-1])
        return results

    def module(
        self,
        name: str,
        args: dict[str, t.Any],
        *,
        check: bool = False,
        diff: bool = False,
        extravars: dict[str, t.Any] | None = None,
    ) -> dict[str, t.Any]:
        """Run one module once and return its result (a failure is a result with failed=True)."""
        task = {"name": f"Run {name}", name: args, "register": "module_result", "ignore_errors": True}
        run = self.tasks([task], extravars, check=check, diff=diff)
        results = run.results(f"Run {name}")
        assert results, f"{name} produced no result; output:\n{run.tail()}"
        return results[-1]


# Where the lab's plan holds each secret, and the vault variable an operator's plan names instead (README.md,
# "Getting started": the plan names vault_* variables and the vault file defines them).
LAB_PLAN_VAULT_VARIABLES: dict[tuple[t.Any, ...], str] = {
    ("components", 0, "connection", "login_password"): "vault_orders_db_password",
    ("components", 1, "connection", "login_password"): "vault_sessions_password",
    ("sites", "secondary", "components", "orders-db", "connection", "login_password"): "vault_dr_orders_db_password",
    ("sites", "secondary", "components", "sessions", "connection", "login_password"): "vault_dr_sessions_password",
    ("dns", "tsig_key_secret"): "vault_tsig_key_secret",
}


def vaulted_lab_plan(plan: dict[str, t.Any]) -> tuple[dict[str, t.Any], dict[str, str]]:
    """The lab's DR plan as an operator writes it, each secret a vault_* variable, and the secrets by variable.

    plan is the content of the lab's dr_plan.yml ({"dr_plan": ...}); it is not changed.
    """
    vaulted = json.loads(json.dumps(plan))
    secrets = {}
    for path, variable in LAB_PLAN_VAULT_VARIABLES.items():
        parent = vaulted["dr_plan"]
        for step in path[:-1]:
            parent = parent[step]
        secrets[variable] = parent[path[-1]]
        parent[path[-1]] = "{{ " + variable + " }}"
    return vaulted, secrets


@pytest.fixture(scope="session")
def lab() -> dict[str, t.Any]:
    facts = LAB_DIR / "lab.json"
    if not facts.is_file():
        pytest.fail(f"the lab is not running ({facts} is missing); start it with `make lab-up`, or run the tests "
                    "with `make integration`, which starts one lab per worker")
    return json.loads(facts.read_text())


@pytest.fixture
def ansible(tmp_path: Path) -> Ansible:
    return Ansible(tmp_path / "ansible")


@pytest.fixture(scope="session")
def aws(lab: dict[str, t.Any]) -> dict[str, str]:
    """Module options that point the AWS SDK at the lab's moto server."""
    facts = lab["aws"]
    return {
        "endpoint_url": facts["endpoint_url"],
        "region": facts["region"],
        "access_key": facts["access_key"],
        "secret_key": facts["secret_key"],
    }


def boto3_client(aws: dict[str, str], service: str, region: str | None = None) -> t.Any:
    import boto3  # imported here so collection of other tests does not need it

    return boto3.client(
        service, endpoint_url=aws["endpoint_url"], region_name=region or aws["region"],
        aws_access_key_id=aws["access_key"], aws_secret_access_key=aws["secret_key"],
    )


@pytest.fixture
def s3_bucket(aws: dict[str, str], request: pytest.FixtureRequest) -> t.Iterator[str]:
    """A fresh bucket on the lab's moto server, emptied and removed afterwards."""
    import uuid

    client = boto3_client(aws, "s3")
    name = f"test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    yield name
    paginator = client.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=name):
        objects = [{"Key": item["Key"], "VersionId": item["VersionId"]}
                   for item in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if objects:
            client.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
    client.delete_bucket(Bucket=name)


def put_back_app_credentials(lab: dict, environment_text: str, redis_config_text: str) -> None:
    """Puts the lab application's passwords back after a test rotated them (a security incident run).

    The database role and the Redis ACL user get the passwords of environment_text
    (the application's environment file as it was), and redis.conf, which the
    rotation rewrote, gets its old text (a restart keeps the lab's password and
    the lab role finds nothing to change).
    """
    import psycopg2  # pylint: disable=import-outside-toplevel
    import redis  # pylint: disable=import-outside-toplevel

    primary = lab["sites"]["primary"]
    original = dict(line.split("=", 1) for line in environment_text.splitlines() if "=" in line)
    admin = psycopg2.connect(host=primary["postgresql"]["host"], port=primary["postgresql"]["port"], dbname="postgres",
                             user=primary["postgresql"]["user"], password=primary["postgresql"]["password"])
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute("ALTER ROLE shopfront PASSWORD %s", (original["SHOPFRONT_DB_PASSWORD"],))
    finally:
        admin.close()
    redis.Redis(host=primary["redis"]["host"], port=primary["redis"]["port"], password=primary["redis"]["password"]).acl_setuser(
        primary["redis"]["app_user"], enabled=True, reset_passwords=True, passwords=["+" + original["SHOPFRONT_REDIS_PASSWORD"]],
        keys=["*"], channels=["*"], commands=["+@all", "-@admin", "-@dangerous"])
    redis_config = Path(primary["redis"]["config"])
    redis_config.write_text(redis_config_text)
    redis_config.chmod(0o600)
    Path(primary["app"]["environment_file"]).write_text(environment_text)


def lab_ctl(path: str, action: str) -> str:
    """Start, stop or query one lab server through its control script."""
    completed = subprocess.run([path, action], capture_output=True, text=True, check=False)
    if action != "status" and completed.returncode != 0:
        raise AssertionError(f"{path} {action} failed: {completed.stderr or completed.stdout}")
    return completed.stdout


# The application's credentials on the lab, which security incident runs rotate.
def app_environment(path: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if "=" in line)


def app_db_login(lab: dict, password: str) -> bool:
    primary = lab["sites"]["primary"]
    try:
        psycopg2.connect(host=primary["postgresql"]["host"], port=primary["postgresql"]["port"], dbname="shopfront",
                         user="shopfront", password=password, connect_timeout=5).close()
        return True
    except psycopg2.OperationalError:
        return False


def app_redis_login(lab: dict, password: str) -> bool:
    primary = lab["sites"]["primary"]
    try:
        return redis.Redis(host=primary["redis"]["host"], port=primary["redis"]["port"],
                           username=primary["redis"]["app_user"], password=password, socket_timeout=5).ping()
    except redis.AuthenticationError:
        return False


@pytest.fixture
def incident(lab, aws) -> t.Iterator[dict[str, t.Any]]:
    """The lab's plan and the application's passwords for a security incident run (the tests of
    playbooks/security_incident.yml); puts the lab's passwords back afterwards."""
    plan = yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())
    app = lab["sites"]["primary"]["app"]
    original_file = Path(app["environment_file"]).read_text()
    original = app_environment(app["environment_file"])
    redis_config = Path(lab["sites"]["primary"]["redis"]["config"])
    original_redis_config = redis_config.read_text()
    assert app_db_login(lab, original["SHOPFRONT_DB_PASSWORD"]) and app_redis_login(lab, original["SHOPFRONT_REDIS_PASSWORD"])
    yield {"plan": plan, "app": app, "original": original}

    put_back_app_credentials(lab, original_file, original_redis_config)
    for name in ("api", "worker"):
        lab_ctl(app["services"][name]["ctl"], "restart")
