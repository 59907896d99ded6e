# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the incident mode records and puts back: the values before the incident survive a second run, only what the
incident changed is undone, and the responders' own login is never refused. The servers' side is tested on the lab
(tests/integration/test_security_isolation.py); here the EC2 API is a fake, because the planning is what is tested."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._incident import ec2 as _ec2
from ansible_collections.resilience.dr.plugins.module_utils._incident import postgres as _postgres_incident
from ansible_collections.resilience.dr.plugins.module_utils._incident import record as _record


class FakeEc2(_ec2.Ec2):
    """Instances with one interface each; set_groups changes them."""

    def __init__(self, groups: dict[str, list[str]]) -> None:
        super().__init__(None, "eu-west-1")
        self.groups = groups

    def interfaces(self, instance_ids):
        missing = [instance for instance in instance_ids if instance not in self.groups]
        if missing:
            raise ConfigurationError(f"no instance {missing}")
        return {f"eni-{instance}": {"instance": instance, "only": True, "groups": sorted(self.groups[instance])}
                for instance in instance_ids}

    def require_group(self, group_id):
        return None

    def set_groups(self, interface, found, groups):
        self.groups[found["instance"]] = list(groups)


def test_a_quarantine_records_the_groups_and_a_release_puts_them_back():
    ec2 = FakeEc2({"i-1": ["sg-app", "sg-ssh"]})
    steps, recorded = _ec2.plan(ec2, ["i-1"], "quarantined", "sg-q", {})
    assert recorded == {"eni-i-1": ["sg-app", "sg-ssh"]} and len(steps) == 1
    _ec2.apply(ec2, steps)
    assert ec2.groups["i-1"] == ["sg-q"]

    again, recorded_again = _ec2.plan(ec2, ["i-1"], "quarantined", "sg-q", recorded)
    assert again == [] and recorded_again == recorded, "a second run keeps the groups from before the quarantine"

    steps, left = _ec2.plan(ec2, ["i-1"], "released", None, recorded)
    _ec2.apply(ec2, steps)
    assert ec2.groups["i-1"] == ["sg-app", "sg-ssh"] and left == {}
    assert _ec2.plan(ec2, ["i-1"], "released", None, left)[0] == []


def test_a_release_leaves_interfaces_it_did_not_quarantine_alone():
    ec2 = FakeEc2({"i-1": ["sg-other"]})
    assert _ec2.plan(ec2, ["i-1"], "released", None, {"eni-i-9": ["sg-app"]}) == ([], {"eni-i-9": ["sg-app"]})


def test_an_earlier_record_keeps_the_value_from_before_the_incident():
    record = _record.read({"settings": {"log_connections": {"value": "off", "altered": False}}, "users": ["a"]}, "db")
    _record.keep_first(record, "log_connections", {"value": "on", "altered": True})
    _record.add_user(record, "a")
    assert record == {"settings": {"log_connections": {"value": "off", "altered": False}}, "users": ["a"]}
    assert _record.users_to_allow(record, ["a", "b"]) == ["a"] and _record.users_to_allow(record, None) == ["a"]


def test_a_broken_record_names_what_to_do():
    with pytest.raises(ConfigurationError, match="incident record of db1:5432 .* restore that file"):
        _record.read({"settings": [], "users": []}, "db1:5432")


@pytest.mark.parametrize(("name", "current", "raised"), [
    ("log_statement", "none", True), ("log_statement", "ddl", False), ("log_statement", "all", False),
    ("log_connections", "off", True), ("log_connections", "on", False),
])
def test_logging_is_only_ever_raised(name, current, raised):
    assert _postgres_incident._raises(name, current, _postgres_incident.INCIDENT_SETTINGS[name]) is raised
