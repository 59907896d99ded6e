# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/security_incident.yml -e intrusion_time=... on the lab: after the rotation and before the services
start, orders-db (logical), sessions (online, flushed) and uploads (files) come back to their newest backup at or
before the intrusion, although newer backups hold the intruder's writes: what was written after it is gone, what
was written before it is there. A time in the future
is refused before anything changes, and check mode changes nothing."""

from __future__ import annotations

import time
import typing as t
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg2
import redis

from .test_security_incident import PLAYBOOK


def utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Lab:
    """The lab's application data the test writes and reads."""

    def __init__(self, lab: dict[str, t.Any]) -> None:
        primary = lab["sites"]["primary"]
        self.pg, self.redis_facts, self.uploads = primary["postgresql"], primary["redis"], Path(primary["app"]["uploads"])
        self.database = primary["app"]["database"]

    def sql(self, statement: str) -> list[tuple]:
        connection = psycopg2.connect(host=self.pg["host"], port=self.pg["port"], user=self.pg["user"],
                                      password=self.pg["password"], dbname=self.database)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def redis(self) -> redis.Redis:
        return redis.Redis(host=self.redis_facts["host"], port=self.redis_facts["port"],
                           password=self.redis_facts["password"], socket_timeout=10)

    def write(self, label: str) -> None:
        self.sql(f"INSERT INTO intrusion_probe VALUES ('{label}')")
        self.redis().set(f"intrusion-probe:{label}", label)
        (self.uploads / f"intrusion-probe-{label}.txt").write_text(label)

    def present(self) -> dict[str, set[str]]:
        return {
            "postgresql": {row[0] for row in self.sql("SELECT label FROM intrusion_probe")},
            "redis": {name.decode().split(":", 1)[1] for name in self.redis().keys("intrusion-probe:*")},
            "files": {path.read_text() for path in self.uploads.glob("intrusion-probe-*.txt")},
        }


def test_intrusion_time_restores_every_component_to_before_it(ansible, lab, incident, tmp_path):
    plan = incident["plan"]
    plan["dr_plan"]["repository"]["location"] = str(tmp_path / "repository")
    # One site: the backups stay in the test's repository (no copy into the lab's secondary repository).
    plan["dr_plan"]["sites"] = {"primary": plan["dr_plan"]["sites"]["primary"]}
    sessions = next(component for component in plan["dr_plan"]["components"] if component["name"] == "sessions")
    # An intruder's keys must go: the online restore empties the server first.
    sessions["restore"] = {"flush": True}
    data = Lab(lab)
    state = {"DR_STATE_DIR": str(tmp_path / "state")}
    data.sql("DROP TABLE IF EXISTS intrusion_probe; CREATE TABLE intrusion_probe (label text)")
    try:
        data.write("before")
        backed_up = ansible.playbook("playbooks/backup.yml", plan, env=state)
        assert backed_up.ok, backed_up.tail()
        time.sleep(2)  # backup times have whole seconds
        intrusion = utc(datetime.now(timezone.utc))
        time.sleep(2)
        data.write("after")
        assert data.present() == {kind: {"before", "after"} for kind in ("postgresql", "redis", "files")}
        # The newest backups hold the intruder's writes: only the time chooses the older ones.
        backed_up_again = ansible.playbook("playbooks/backup.yml", plan, env=state)
        assert backed_up_again.ok, backed_up_again.tail()

        future = utc(datetime.now(timezone.utc) + timedelta(days=1))
        refused = ansible.playbook(PLAYBOOK, {**plan, "confirm": "yes", "intrusion_time": future}, env=state)
        assert not refused.ok and f"intrusion_time {future} is in the future" in refused.stdout
        unreadable = ansible.playbook(PLAYBOOK, {**plan, "confirm": "yes", "intrusion_time": "last tuesday"}, env=state)
        assert not unreadable.ok and "intrusion_time" in unreadable.stdout

        preview = ansible.playbook(PLAYBOOK, {**plan, "intrusion_time": intrusion}, check=True, env=state)
        assert preview.ok, preview.tail()
        said = preview.result("Show the point in time of this run")["msg"]
        assert f"at or before {intrusion}" in said and "orders-db" in said and "uploads" in said
        assert data.present() == {kind: {"before", "after"} for kind in ("postgresql", "redis", "files")}, \
            "check mode restored something"

        run = ansible.playbook(PLAYBOOK, {**plan, "confirm": "yes", "intrusion_time": intrusion}, env=state)
        assert run.ok, run.tail()
        assert data.present() == {kind: {"before"} for kind in ("postgresql", "redis", "files")}
        # The restore came after the rotation and before the services started again.
        names = [event["event_data"].get("task", "") for event in run.events if event.get("event") == "playbook_on_task_start"]
        restore = names.index("Restore each chosen component to before the intrusion, after the ones it depends on")
        assert names.index("Rotate each credential and end its sessions") < restore
        assert restore < names.index("Start the isolated services with the new secrets")
    finally:
        data.sql("DROP TABLE IF EXISTS intrusion_probe")
        data.redis().delete("intrusion-probe:before", "intrusion-probe:after")
        for path in data.uploads.glob("intrusion-probe-*.txt"):
            path.unlink()
