# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The request read from the options, the plan (TTL, lowering it first) and the diff."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._dns.plan import HealthCheck, make_plan, record_diff
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._dns.helpers import NAME, record, request


def test_health_check_needs_a_port_or_a_url():
    with pytest.raises(ConfigurationError, match=r"health_check.tcp '10.0.0.2' has no port; write host:port"):
        request(health_check={"tcp": "10.0.0.2"})
    with pytest.raises(ConfigurationError, match=r"health_check.http 'secondary/healthz' is not an http"):
        request(health_check={"http": "secondary/healthz"})
    with pytest.raises(ConfigurationError, match=r"exactly one of tcp"):
        request(health_check={"tcp": "10.0.0.2:443", "http": "http://10.0.0.2/"})
    assert request(health_check={"tcp": "10.0.0.2:443"}).health_check == HealthCheck(tcp=("10.0.0.2", 443))


def test_request_refuses_negative_rpo_and_unknown_gates():
    with pytest.raises(ConfigurationError, match=r"rpo_seconds -1 is negative"):
        request(rpo_seconds=-1)
    with pytest.raises(ConfigurationError, match=r"skip_gates names unknown gates expect_current"):
        request(skip_gates=["expect_current"])


def test_plan_keeps_the_ttl_when_none_is_given_and_uses_300_for_a_new_record():
    plan = make_plan(record(["10.0.0.1"], ttl=3600), request(), NAME)
    assert plan.changed and plan.desired == record(["10.0.0.2"], ttl=3600)
    assert make_plan(None, request(), NAME).desired.ttl == 300
    assert not make_plan(record(["10.0.0.2"], ttl=3600), request(), NAME).changed
    # A TTL change alone is a change.
    assert make_plan(record(["10.0.0.2"], ttl=3600), request(ttl=60), NAME).changed


def test_plan_lowers_the_ttl_first_only_when_values_change_and_the_ttl_shrinks():
    plan = make_plan(record(["10.0.0.1"], ttl=600), request(ttl=60, lower_ttl_first=True, lower_ttl_max_wait=900), NAME)
    assert plan.lowered == record(["10.0.0.1"], ttl=60) and plan.lower_wait_s == 600
    assert make_plan(record(["10.0.0.1"], ttl=60), request(ttl=60, lower_ttl_first=True, lower_ttl_max_wait=900), NAME).lowered is None
    assert make_plan(record(["10.0.0.2"], ttl=600), request(ttl=60, lower_ttl_first=True, lower_ttl_max_wait=900), NAME).lowered is None
    assert make_plan(None, request(ttl=60, lower_ttl_first=True, lower_ttl_max_wait=900), NAME).lowered is None


def test_plan_refuses_a_ttl_wait_beyond_the_bound_before_anything_changes():
    with pytest.raises(ConfigurationError, match=r"current TTL of app.example.test A \(3600s\), longer than lower_ttl_max_wait \(900s\); nothing was"):
        make_plan(record(["10.0.0.1"], ttl=3600), request(ttl=60, lower_ttl_first=True, lower_ttl_max_wait=900), NAME)


def test_diff_shows_both_record_sets_in_zone_file_form():
    diff = record_diff(make_plan(record(["10.0.0.1", "10.0.0.3"]), request(ttl=60), NAME))
    assert diff["before"] == "app.example.test. 300 IN A 10.0.0.1\napp.example.test. 300 IN A 10.0.0.3\n"
    assert diff["after"] == "app.example.test. 60 IN A 10.0.0.2\n"
    assert diff["before_header"] == "app.example.test A"
    assert record_diff(make_plan(None, request(), NAME))["before"] == ""
