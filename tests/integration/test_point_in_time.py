# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One point in time per run, through the level playbooks on the lab's moto
server: S3 components of level 2 roll back to the incident start when no
target_time is given and say so, the report shows the requested time, the
point reached and the gap; a target_time in the future stops the run before
anything is touched. (PostgreSQL, Redis and files restored to one point in
time are drilled by the bad_write drill, tests/integration/test_drill.py.)"""

from __future__ import annotations

import json
import time
import typing as t
from datetime import datetime, timedelta, timezone

from .conftest import boto3_client
from .s3_common import objects, s3_component

LEVEL2 = "playbooks/level2_application.yml"


def s3_plan(tmp_path, aws: dict[str, str], bucket: str) -> dict[str, t.Any]:
    return {"dr_plan": {
        "name": "imageshop",
        "repository": {"location": str(tmp_path / "repository")},
        "components": [s3_component(aws, bucket, rpo="5m")],
        "sites": {"primary": {"address": "127.0.0.1"}},
    }}


def test_level2_rolls_s3_back_to_the_incident_start_without_a_target_time_and_reports_the_gap(
        ansible, aws, s3_bucket, tmp_path):
    client = boto3_client(aws, "s3")
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    for number in range(3):
        client.put_object(Bucket=s3_bucket, Key=f"images/{number}.png", Body=f"good {number}".encode())
    good = objects(client, s3_bucket, "images/")
    time.sleep(2)  # S3 times have whole seconds
    incident = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(2)
    client.put_object(Bucket=s3_bucket, Key="images/0.png", Body=b"ransomware")
    client.delete_object(Bucket=s3_bucket, Key="images/1.png")
    reports = tmp_path / "reports"

    run = ansible.playbook(LEVEL2, {**s3_plan(tmp_path, aws, s3_bucket), "incident_start": incident, "confirm": "yes"},
                           env={"ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report", "DR_REPORT_DIR": str(reports)})

    assert run.ok, run.tail()
    assert objects(client, s3_bucket, "images/") == good
    said = run.result("Show the point in time of this run")["msg"]
    assert f"except the S3 components product-images, rolled back to {incident} (incident_start;" in said
    [report_file] = reports.glob("*/report.json")
    report = json.loads(report_file.read_text())
    [entry] = [entry for entry in report["components"] if entry["component"] == "product-images"]
    # S3 is rolled back exactly as at the time asked for: no gap.
    assert (entry["requested_time"], entry["reached_time"], entry["point_gap_s"]) == (incident, incident, 0.0)
    assert report["point_in_time"]["components"] == 1 and report["point_in_time"]["target_time"] is None
    [shown] = run.result("Show each component's point in time")["results"]
    assert shown["msg"] == f"product-images: requested {incident}, reached {incident}, gap 0 s"
    # The run's final message says the widest gap: the notification and the report's last line.
    final = run.result("Describe the event for the hooks")["ansible_facts"]["notify_line"]
    assert final.startswith("[imageshop] Recovery finished") and f"Point in time {incident}: widest gap 0 s" in final
    assert "point in time per component: widest gap 0.0s (product-images)" in run.stdout


def test_a_target_time_in_the_future_stops_the_run_before_anything_is_touched(ansible, aws, s3_bucket, tmp_path):
    client = boto3_client(aws, "s3")
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=s3_bucket, Key="images/0.png", Body=b"kept")
    future = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    run = ansible.playbook(LEVEL2, {**s3_plan(tmp_path, aws, s3_bucket), "target_time": future, "confirm": "yes"})

    assert not run.ok
    assert f"target_time {future} is in the future" in run.stdout
    assert run.result("Check the DR plan and resolve it for the site primary").get("failed")
    assert objects(client, s3_bucket, "images/") == {"images/0.png": b"kept"}


def test_level1_refuses_a_backup_id_with_a_target_time_before_anything_is_touched(ansible, aws, s3_bucket, tmp_path):
    past = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    run = ansible.playbook("playbooks/level1_component.yml", {
        **s3_plan(tmp_path, aws, s3_bucket), "component": "product-images", "backup_id": "20261123T040000Z-k3f9ab",
        "target_time": past, "confirm": "yes"})

    assert not run.ok
    refused = run.result("Refuse a backup_id together with a target_time before anything is stopped")
    assert refused["failed"] and "not both" in refused["msg"]
    assert not [result for result in run.results() if "restore" in result["_task"].lower()]
