# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab itself: every server answers a client through ansible-playbook, a
stopped server is named in the failure, and a rerun of the role changes nothing."""

from __future__ import annotations

import pytest

from .conftest import lab_ctl

CHECK = "playbooks/lab_check.yml"


def test_every_lab_server_answers(ansible, lab):
    run = ansible.playbook(CHECK)
    assert run.ok, run.tail()
    assert run.result("Require every lab server to answer")["msg"] == "every lab server answered"
    report = run.result("Report the lab servers")["msg"]
    assert f"{lab['dns']['record']} -> {lab['sites']['primary']['address']}" in report


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (("sites", "primary", "postgresql"), "primary PostgreSQL (127.0.0.1:{port})"),
        (("sites", "secondary", "redis"), "secondary Redis (127.0.0.1:{port})"),
        (("dns",), "DNS (127.0.0.1:{port})"),
        (("aws",), "moto S3 ("),
    ],
    ids=["postgresql", "redis", "dns", "moto"],
)
def test_stopped_server_is_named_in_the_failure(ansible, lab, server, expected):
    facts = lab
    for key in server:
        facts = facts[key]
    ctl = facts["ctl"]
    lab_ctl(ctl, "stop")
    try:
        run = ansible.playbook(CHECK)
    finally:
        lab_ctl(ctl, "start")
    assert not run.ok
    failure = run.result("Require every lab server to answer")
    assert failure["failed"]
    message = " ".join(failure["msg"])
    assert expected.format(port=facts.get("port")) in message, message
    # Only the stopped server is reported.
    assert len(failure["msg"]) == 2, failure["msg"]


def test_lab_role_rerun_changes_nothing(ansible):
    run = ansible.playbook("playbooks/lab.yml")
    assert run.ok, run.tail()
    changed = [result["_task"] for result in run.results() if result.get("changed")]
    # The bucket the check creates and removes again is the only change.
    assert changed == ["Create and remove an S3 bucket on the moto server"], changed
