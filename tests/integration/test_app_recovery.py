# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/app_recovery.yml, the application-crash runbook, on real processes: a service made unhealthy
by a bad release is restarted, then rolled back to the previous release and healthy again; a service healthy
after its restart keeps its release; check mode changes nothing; a service unhealthy on both releases stops
the run naming it and what was tried.

Each service is a small HTTP server run from its release link (release.current) by a control script, as a
deployed application is: its /health answers 200 and the release it runs from, or 503 on a broken release,
or the process exits at once on a crashing one."""

from __future__ import annotations

import json
import socket
import sys
import textwrap
import typing as t
import urllib.error
import urllib.request
from pathlib import Path

import pytest

PLAYBOOK = "playbooks/app_recovery.yml"
RELEASES = ("2026-11-01", "2026-11-20", "2026-11-23")

APP = {
    "good": """
        import http.server, os, sys
        RELEASE = os.path.basename(os.path.dirname(os.path.realpath(__file__)))
        class Health(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(RELEASE.encode())
            def log_message(self, *args):
                pass
        http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
        """,
    # Runs and listens, but its health check fails (a release that cannot reach what it needs).
    "unhealthy": """
        import http.server, sys
        class Health(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(503)
                self.end_headers()
            def log_message(self, *args):
                pass
        http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
        """,
    # Exits at once (a release with a broken configuration).
    "crashing": """
        import sys
        sys.exit("configuration error: DATABASE_URL is not set")
        """,
}

# Starts, stops and reports one service by its pid file, running <home>/current/app.py.
CTL = """
    import os, socket, subprocess, sys, time
    home, port, action = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    pidfile = os.path.join(home, "pid")

    def alive():
        try:
            pid = int(open(pidfile).read())
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split(")")[-1].split()[0] != "Z"
        except (OSError, ValueError):
            return False

    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    if action == "status":
        sys.exit(0 if alive() else 3)
    if action == "stop":
        if alive():
            pid = int(open(pidfile).read())
            os.kill(pid, 15)
            for _ in range(100):
                if not alive() and not listening():
                    break
                time.sleep(0.05)
        sys.exit(0)
    if alive():
        sys.exit(0)
    with open(os.path.join(home, "log"), "ab") as log:
        process = subprocess.Popen([sys.executable, os.path.join(home, "current", "app.py"), str(port)],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    open(pidfile, "w").write(str(process.pid))
    for _ in range(100):
        if process.poll() is not None:
            sys.exit(f"exited while starting (status {process.returncode}); see {home}/log")
        if listening():
            sys.exit(0)
        time.sleep(0.05)
    sys.exit("not listening after 5 s")
    """


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """One service of the test plan: releases, the release link, a control script and a port."""

    def __init__(self, root: Path, name: str, releases: dict[str, str], current: str) -> None:
        self.name, self.home, self.port = name, root / name, free_port()
        for release, kind in releases.items():
            (self.home / "releases" / release).mkdir(parents=True)
            (self.home / "releases" / release / "app.py").write_text(textwrap.dedent(APP[kind]))
        self.link = self.home / "current"
        self.link.symlink_to(self.home / "releases" / current)
        (self.home / "ctl.py").write_text(textwrap.dedent(CTL))

    def command(self, action: str) -> list[str]:
        return [sys.executable, str(self.home / "ctl.py"), str(self.home), str(self.port), action]

    def plan_entry(self, **extra: t.Any) -> dict[str, t.Any]:
        return {"name": self.name, "start_command": self.command("start"), "stop_command": self.command("stop"),
                "status_command": self.command("status"),
                "health_check": {"http": f"http://127.0.0.1:{self.port}/health", "status": 200},
                "release": {"current": str(self.link), "directory": str(self.home / "releases")}, **extra}

    @property
    def release(self) -> str:
        return self.link.resolve().name

    @property
    def pid(self) -> str:
        return (self.home / "pid").read_text()

    def health(self) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""
        except OSError:
            return 0, ""


@pytest.fixture
def services(tmp_path):
    """api runs a release that fails its health check, the one before it is good; worker runs a good release."""
    import subprocess

    made: dict[str, Service] = {}

    def make(api_releases: dict[str, str]) -> tuple[Service, Service]:
        made["api"] = Service(tmp_path, "api", api_releases, current=RELEASES[-1])
        made["worker"] = Service(tmp_path, "worker", dict.fromkeys(RELEASES, "good"), current=RELEASES[-1])
        for service in made.values():
            subprocess.run(service.command("start"), check=False, capture_output=True)
        return made["api"], made["worker"]

    yield make
    for service in made.values():
        subprocess.run(service.command("stop"), check=False, capture_output=True)


def plan(tmp_path: Path, api: Service, worker: Service) -> dict[str, t.Any]:
    return {"dr_plan": {
        "name": "shopfront",
        "components": [{"name": "uploads", "kind": "files", "connection": {"path": str(tmp_path)},
                        "backup": {"method": "tar"}}],
        "repository": {"location": str(tmp_path / "repository")},
        "services": [api.plan_entry(), worker.plan_entry(after=["api"])],
        "sites": {"primary": {"address": "127.0.0.1"}},
    }, "app_services_health_retries": 3, "app_services_health_delay": 1}


def test_bad_release_is_rolled_back_and_a_healthy_service_keeps_its_release(ansible, tmp_path, services):
    api, worker = services({RELEASES[0]: "good", RELEASES[1]: "good", RELEASES[2]: "unhealthy"})
    assert api.health()[0] == 503 and worker.health() == (200, RELEASES[2])
    extravars = plan(tmp_path, api, worker)
    before = {name: (service.release, service.pid) for name, service in (("api", api), ("worker", worker))}

    preview = ansible.playbook(PLAYBOOK, extravars, check=True)
    assert preview.ok, preview.tail()
    assert {"api": (api.release, api.pid), "worker": (worker.release, worker.pid)} == before, "check mode changes nothing"
    assert api.health()[0] == 503
    assert preview.result("Say what the runbook would do with the service - api")["msg"] == (
        f"Would restart api on release {RELEASES[2]} and wait for its health check; if it stays unhealthy, would "
        f"point {api.link} from {RELEASES[2]} to {RELEASES[1]} (the previous release) and restart it.")

    reports = tmp_path / "reports"
    run = ansible.playbook(PLAYBOOK, {**extravars, "confirm": "yes"}, diff=True,
                           env={"ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report", "DR_REPORT_DIR": str(reports)})
    assert run.ok, run.tail()

    # api: restarted, still failing its health check, rolled back to the release before, healthy there.
    assert api.release == RELEASES[1] and api.health() == (200, RELEASES[1])
    link_change = run.result(f"Point the release link at the previous release - {api.link}")
    assert link_change["changed"]
    assert link_change["diff"]["before"]["src"].endswith(RELEASES[2])
    assert link_change["diff"]["after"]["src"].endswith(RELEASES[1])
    # worker: restarted (a new process) and healthy, so it keeps its release.
    assert worker.release == RELEASES[2] and worker.health() == (200, RELEASES[2]) and worker.pid != before["worker"][1]
    assert run.result("Say what was done to each service")["msg"] == [
        f"api rolled back from {RELEASES[2]} to {RELEASES[1]}, healthy", f"worker restarted on release {RELEASES[2]}, healthy"]

    [report_file] = reports.glob("*/report.json")
    report = json.loads(report_file.read_text())
    tasks = [(task["name"], task["status"]) for task in report["tasks"]]
    assert (f"resilience.dr.app_services : Point the release link at the previous release - {api.link}", "changed") in tasks
    steps = [name.split(" : ", 1)[1] for name, status in tasks
             if name.startswith('resilience.dr.plan : Record the step "') and status == "ok"]
    assert steps[0].startswith(f'Record the step "api restarted on release {RELEASES[2]}, still unhealthy (Status code was 503')
    assert steps[1:] == [f'Record the step "api rolled back from {RELEASES[2]} to {RELEASES[1]}, healthy"',
                         f'Record the step "worker restarted on release {RELEASES[2]}, healthy"']
    assert report["tasks"][-1]["name"] == "Compare the achieved RTO and RPO with the plan's targets"


def test_service_unhealthy_on_both_releases_escalates_naming_what_was_tried(ansible, tmp_path, services):
    api, worker = services({RELEASES[1]: "crashing", RELEASES[2]: "crashing"})
    run = ansible.playbook(PLAYBOOK, {**plan(tmp_path, api, worker), "confirm": "yes", "app_services": "api"})
    assert not run.ok
    assert "recovery stopped at" in run.stdout and "Manual next step" in run.stdout
    assert (f"api is still unhealthy: restarted on release {RELEASES[2]} (non-zero return code: exited while starting (status 1)"
            in " ".join(run.stdout.split()))
    assert f"then rolled back to {RELEASES[1]} and restarted (non-zero return code: exited while starting (status 1)" in " ".join(run.stdout.split())
    assert api.release == RELEASES[1], "the rollback that was tried stays for the engineer to see"
    assert not [result for result in run.results() if result.get("cmd") and "worker" in result["cmd"][1]], \
        "a service not named is left alone"
