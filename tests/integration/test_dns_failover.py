# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dns_failover through ansible-playbook: RFC 2136 against the lab's BIND,
Route 53 against the lab's moto server.

Every DNS outcome is checked with a query of our own (dnspython, straight to
the authoritative server) or the Route 53 API, independent of the module.
Tests that change app.example.test put it back afterwards (fixture), since
the zone is shared.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
import typing as t
import uuid

import boto3
import pytest
import yaml

from .conftest import Ansible
from .lab_dns import answer, set_record

MODULE = "resilience.dr.dns_failover"


def free_port() -> int:
    """A loopback TCP port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def primary(lab) -> str:
    return lab["sites"]["primary"]["address"]


@pytest.fixture
def secondary(lab) -> str:
    return lab["sites"]["secondary"]["address"]


@pytest.fixture
def app_record(lab, primary):
    """app.example.test A pointing at the primary (TTL 300) before the test, and again after it."""
    set_record(lab, [primary], 300)
    assert answer(lab) == ([primary], 300)
    yield lab["dns"]["record"]
    set_record(lab, [primary], 300)


def rfc2136(lab: dict, **options: t.Any) -> dict[str, t.Any]:
    args = {
        "provider": "rfc2136",
        "server": lab["dns"]["server"],
        "port": lab["dns"]["port"],
        "zone": lab["dns"]["zone"],
        "record": lab["dns"]["record"],
        "tsig_key_name": lab["dns"]["tsig_key_name"],
        "tsig_key_secret": lab["dns"]["tsig_key_secret"],
        "tsig_algorithm": lab["dns"]["tsig_algorithm"],
        "health_check": lab_health(lab),
    }
    args.update(options)
    return {key: value for key, value in args.items() if value is not None}


def lab_health(lab: dict) -> dict[str, str]:
    """A health check that passes: the secondary site's PostgreSQL accepts TCP connections."""
    return {"tcp": f"127.0.0.1:{lab['sites']['secondary']['postgresql']['port']}"}


def same_again(ansible, args: dict[str, t.Any]) -> tuple[dict, dict]:
    """The same change applied again, then in check mode: both report no change."""
    run = ansible.tasks([
        {"name": "again", MODULE: args, "ignore_errors": True},
        {"name": "check mode again", MODULE: args, "check_mode": True, "ignore_errors": True},
    ])
    again, planned = run.result("again"), run.result("check mode again")
    assert not again["failed"] and not again["changed"], again
    assert not planned["failed"] and not planned["changed"], planned
    return again, planned


def refused(result: dict) -> str:
    assert result["failed"], result
    assert not result.get("changed"), result
    return result["msg"]


# --------------------------------------------------------------------------
# RFC 2136 (BIND)


def test_failover_to_secondary_and_failback_with_previous(ansible, lab, app_record, primary, secondary):
    health = {"tcp": f"127.0.0.1:{lab['sites']['secondary']['postgresql']['port']}"}
    args = rfc2136(lab, value=[secondary], expect_current=[primary], health_check=health)

    planned = ansible.module(MODULE, args, check=True, diff=True)
    assert not planned["failed"], planned
    assert planned["changed"]
    assert answer(lab) == ([primary], 300), "check mode changed the record"
    assert planned["diff"]["before"].strip() == f"{app_record}. 300 IN A {primary}"
    assert planned["diff"]["after"].strip() == f"{app_record}. 300 IN A {secondary}"
    assert planned["previous"] == {"value": [primary], "ttl": 300, "alias": None}
    assert planned["verification"] is None

    applied = ansible.module(MODULE, args)
    assert not applied["failed"], applied
    assert applied["changed"]
    assert answer(lab) == ([secondary], 300)
    assert applied["previous"] == {"value": [primary], "ttl": 300, "alias": None}
    assert applied["new"] == {"value": [secondary], "ttl": 300, "alias": None}
    assert applied["gates"]["expect_current"]["status"] == "passed"
    assert applied["gates"]["health"]["status"] == "passed"
    verification = applied["verification"]
    assert verification["converged"] and verification["converged_after_s"] >= 0
    # The zone's NS (ns1.example.test) resolved through the server and asked on the lab's port.
    assert [(s["server"], s["port"], s["value"], s["converged"]) for s in verification["servers"]] == [
        ("ns1.example.test", lab["dns"]["port"], [secondary], True)
    ]

    again, planned_again = same_again(ansible, args)
    assert again["previous"] == again["new"] == {"value": [secondary], "ttl": 300, "alias": None}
    assert again["gates"]["expect_current"]["status"] == "not_needed"
    assert again["verification"]["converged"]
    assert answer(lab) == ([secondary], 300)

    failback = ansible.module(
        MODULE,
        rfc2136(
            lab,
            value=applied["previous"]["value"],
            ttl=applied["previous"]["ttl"],
            expect_current=applied["new"]["value"],
            verify_servers=[f"{lab['dns']['server']}:{lab['dns']['port']}"],
        ),
    )
    assert not failback["failed"] and failback["changed"], failback
    assert answer(lab) == ([primary], 300)
    assert failback["verification"]["servers"][0]["address"] == lab["dns"]["server"]


@pytest.fixture(scope="module")
def refusals(lab, tmp_path_factory):
    """One playbook of changes the gates or the server must refuse, all against app.example.test -> primary.

    Every case refuses before anything changes, so they share one run; the
    DNS answer after the run shows that none of them changed the record.
    """
    primary, secondary = lab["sites"]["primary"]["address"], lab["sites"]["secondary"]["address"]
    dead = f"127.0.0.1:{free_port()}"
    cases = {
        "unsigned": rfc2136(lab, value=[secondary], tsig_key_name=None, tsig_key_secret=None),
        "wrong secret": rfc2136(lab, value=[secondary], tsig_key_secret="d3Jvbmcgc2VjcmV0IG9mIDMyIGJ5dGVzIGZvciB0ZXN0"),
        "unknown key": rfc2136(lab, value=[secondary], tsig_key_name="no-such-key"),
        "expect_current mismatch": rfc2136(lab, value=[secondary], expect_current=["127.0.0.9"]),
        "unhealthy": rfc2136(lab, value=[secondary], health_check={"tcp": dead, "timeout": 2}),
        "rpo too old": rfc2136(lab, value=[secondary], max_rpo_seconds=60, rpo_seconds=600),
        "rpo unknown": rfc2136(lab, value=[secondary], max_rpo_seconds=60),
        "ttl wait too long": rfc2136(lab, value=[secondary], ttl=60, lower_ttl_first=True, lower_ttl_max_wait=100),
        "zone not found": rfc2136(lab, zone="other.test", record="app.other.test", value=[secondary]),
        "server unreachable": rfc2136(lab, port=int(dead.rsplit(":", 1)[1]), value=[secondary]),
        "no health check": rfc2136(lab, value=[secondary], health_check=None),
        "no health check, only rpo skipped": rfc2136(lab, value=[secondary], health_check=None, skip_gates=["rpo"]),
    }
    tasks = [{"name": name, MODULE: args, "ignore_errors": True} for name, args in cases.items()]
    set_record(lab, [primary], 300)
    try:
        run = Ansible(tmp_path_factory.mktemp("refusals")).tasks(tasks)
        after = answer(lab)
    finally:
        set_record(lab, [primary], 300)
    results = {name: run.result(name) for name in cases}
    return {"results": results, "answer_after": after, "dead": dead, "primary": primary}


def refusal(refusals, case: str) -> str:
    assert refusals["answer_after"] == ([refusals["primary"]], 300), "a refused change changed the record"
    return refused(refusals["results"][case])


def test_unsigned_update_is_refused(refusals):
    message = refusal(refusals, "unsigned")
    assert "REFUSED" in message and "not signed" in message, message


@pytest.mark.parametrize(("case", "error"), [("wrong secret", "BADSIG"), ("unknown key", "BADKEY")])
def test_wrong_tsig_key_is_refused_naming_the_tsig_error(refusals, lab, case, error):
    message = refusal(refusals, case)
    assert error in message and "Nothing was changed" in message, message
    assert refusals["results"][case]["tsig_error"] == error
    # The secret never reaches the result.
    assert lab["dns"]["tsig_key_secret"] not in str(refusals["results"][case])


def test_expect_current_mismatch_is_refused(refusals, primary):
    message = refusal(refusals, "expect_current mismatch")
    assert "gate expect_current failed" in message and f"holds {primary}" in message and "127.0.0.9" in message, message


def test_unhealthy_target_is_refused(refusals):
    message = refusal(refusals, "unhealthy")
    assert "gate health failed" in message and refusals["dead"] in message and "skip_gates: [health]" in message, message


def test_rpo_gate_refuses_data_older_than_the_bound_or_of_unknown_age(refusals):
    message = refusal(refusals, "rpo too old")
    assert "gate rpo failed" in message and "600s old" in message and "skip_gates: [rpo]" in message, message
    message = refusal(refusals, "rpo unknown")
    assert "age of the target's data is unknown" in message, message


def test_lower_ttl_first_refuses_a_wait_beyond_the_bound(refusals):
    message = refusal(refusals, "ttl wait too long")
    assert "300s" in message and "lower_ttl_max_wait (100s)" in message, message


def test_zone_not_found_is_named(refusals):
    message = refusal(refusals, "zone not found")
    assert "zone other.test not found" in message and "REFUSED" in message, message


@pytest.mark.parametrize("case", ["no health check", "no health check, only rpo skipped"])
def test_failover_without_health_check_is_refused_and_the_record_stays(refusals, lab, case):
    message = refusal(refusals, case)
    assert message.startswith(f"no health_check is given for the new target of {lab['dns']['record']} A"), message
    assert "Add health_check" in message and "skip_gates: [health]" in message and "Nothing was changed" in message


def test_unreachable_server_is_named(refusals):
    message = refusal(refusals, "server unreachable")
    assert refusals["dead"] in message and "check the address and port" in message, message


def test_gates_let_the_change_through_when_forced_skipped_or_satisfied(ansible, lab, app_record, primary, secondary, http_target):
    """force overrides expect_current, skip_gates: [health] an unhealthy target, and satisfied gates pass."""
    dead = f"127.0.0.1:{free_port()}"
    run = ansible.tasks([
        {"name": "forced", MODULE: rfc2136(lab, value=[secondary], expect_current=["127.0.0.9"], force=True), "ignore_errors": True},
        {"name": "health skipped", MODULE: rfc2136(lab, value=[primary], health_check={"tcp": dead, "timeout": 2},
                                                   skip_gates=["health"]), "ignore_errors": True},
        {"name": "gates satisfied", MODULE: rfc2136(lab, value=[secondary], max_rpo_seconds=60, rpo_seconds=12.5,
                                                    health_check={"http": f"{http_target}/healthz"}), "ignore_errors": True},
        {"name": "http status", MODULE: rfc2136(lab, value=[primary], health_check={"http": f"{http_target}/ready"}),
         "ignore_errors": True},
    ])
    forced = run.result("forced")
    assert not forced["failed"] and forced["changed"] and forced["new"]["value"] == [secondary], forced
    assert forced["gates"]["expect_current"]["status"] == "overridden"

    skipped = run.result("health skipped")
    assert not skipped["failed"] and skipped["changed"] and skipped["previous"]["value"] == [secondary], skipped
    assert skipped["gates"]["health"]["status"] == "skipped"
    assert "the check failed" in skipped["gates"]["health"]["detail"] and dead in skipped["gates"]["health"]["detail"]
    shown = " ".join(run.stdout.split())  # warnings are wrapped to the terminal's width
    assert f"{app_record} A: gate health skipped by skip_gates (the check failed" in shown
    assert "the failover changes the record without it" in shown
    assert not any("gate " in warning for warning in forced.get("warnings", []))

    satisfied = run.result("gates satisfied")
    assert not satisfied["failed"] and satisfied["changed"], satisfied
    assert satisfied["gates"]["rpo"]["status"] == satisfied["gates"]["health"]["status"] == "passed"

    message = refused(run.result("http status"))
    assert "answered 503, not the expected 200" in message, message
    assert answer(lab) == ([secondary], 300)


@pytest.fixture
def http_target():
    """A real HTTP server on loopback: /healthz answers 200, everything else 503."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            self.send_response(200 if self.path == "/healthz" else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_lower_ttl_first_waits_out_the_old_ttl(ansible, lab, app_record, primary, secondary):
    set_record(lab, [primary], 3)
    result = ansible.module(MODULE, rfc2136(lab, value=[secondary], ttl=1, lower_ttl_first=True))
    assert not result["failed"] and result["changed"], result
    assert result["lower_ttl"]["from_ttl"] == 3 and result["lower_ttl"]["to_ttl"] == 1
    assert result["lower_ttl"]["waited_s"] >= 3
    assert result["previous"] == {"value": [primary], "ttl": 3, "alias": None}
    assert answer(lab) == ([secondary], 1)


def test_change_by_someone_else_during_the_wait_is_not_overwritten(ansible, lab, app_record, primary, secondary):
    """The switch is conditional on the record still holding what was read (an RFC 2136 prerequisite)."""
    set_record(lab, [primary], 5)

    def other_operator():
        # Waits for the module's first step (TTL lowered to 1), then changes the record during the wait.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and answer(lab) != ([primary], 1):
            time.sleep(0.05)
        set_record(lab, ["127.0.0.9"], 30)

    racing = threading.Thread(target=other_operator)
    racing.start()
    try:
        result = ansible.module(MODULE, rfc2136(lab, value=[secondary], ttl=1, lower_ttl_first=True))
    finally:
        racing.join()
    assert result["failed"], result
    assert "no longer holds" in result["msg"] and "TTL was lowered" in result["msg"], result["msg"]
    assert result["previous"] == {"value": [primary], "ttl": 5, "alias": None}
    assert answer(lab) == (["127.0.0.9"], 30), "the other operator's change was overwritten"


def test_verify_timeout_names_the_lagging_server_and_returns_previous(ansible, lab, app_record, primary, secondary):
    silent = f"127.0.0.1:{free_port()}"
    args = rfc2136(lab, value=[secondary], verify_servers=[f"127.0.0.1:{lab['dns']['port']}", silent], verify_timeout=2)
    result = ansible.module(MODULE, args)
    assert result["failed"] and result["changed"], result
    assert "1 of 2 authoritative servers" in result["msg"] and silent in result["msg"], result["msg"]
    assert "WAS changed" in result["msg"]
    assert result["previous"] == {"value": [primary], "ttl": 300, "alias": None}
    servers = {f"{s['address']}:{s['port']}": s for s in result["verification"]["servers"]}
    assert servers[f"127.0.0.1:{lab['dns']['port']}"]["converged"]
    assert not servers[silent]["converged"] and servers[silent]["error"]
    assert answer(lab) == ([secondary], 300)


# --------------------------------------------------------------------------
# Route 53 (moto server)


@pytest.fixture
def route53(lab):
    aws = lab["aws"]
    return boto3.client(
        "route53",
        endpoint_url=aws["endpoint_url"],
        region_name=aws["region"],
        aws_access_key_id=aws["access_key"],
        aws_secret_access_key=aws["secret_key"],
    )


@pytest.fixture
def hosted_zone(route53):
    """A fresh hosted zone with app.<zone> A 192.0.2.10 (TTL 300); removed afterwards."""
    name = f"dr-{uuid.uuid4().hex[:8]}.test"
    zone_id = route53.create_hosted_zone(Name=name, CallerReference=str(uuid.uuid4()))["HostedZone"]["Id"].split("/")[-1]
    record = {"Name": f"app.{name}.", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "192.0.2.10"}]}
    # UPSERT, not CREATE: moto (unlike Route 53) refuses a later CREATE identical to an earlier one in its
    # change journal before applying the DELETE in the same batch, which the failback would then send.
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]})
    yield {"name": name, "id": zone_id, "record": f"app.{name}"}
    for item in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]:
        if item["Type"] not in ("SOA", "NS"):
            route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": item}]})
    route53.delete_hosted_zone(Id=zone_id)


def api_record(route53, zone: dict) -> tuple[list[str], int] | None:
    for item in route53.list_resource_record_sets(HostedZoneId=zone["id"])["ResourceRecordSets"]:
        if item["Name"] == zone["record"] + "." and item["Type"] == "A":
            return sorted(value["Value"] for value in item["ResourceRecords"]), item["TTL"]
    return None


def aws_args(lab: dict, **options: t.Any) -> dict[str, t.Any]:
    aws = lab["aws"]
    args = {
        "provider": "route53",
        "endpoint_url": aws["endpoint_url"],
        "region": aws["region"],
        "access_key": aws["access_key"],
        "secret_key": aws["secret_key"],
        # moto's name servers do not exist; the API is checked instead.
        "verify": False,
        "health_check": lab_health(lab),
    }
    args.update(options)
    return args


def test_route53_failover_changes_the_record_and_returns_previous(ansible, lab, route53, hosted_zone):
    args = aws_args(lab, zone=hosted_zone["name"], record=hosted_zone["record"], value=["192.0.2.20", "192.0.2.21"], ttl=60,
                    expect_current=["192.0.2.10"])

    planned = ansible.module(MODULE, args, check=True, diff=True)
    assert not planned["failed"] and planned["changed"], planned
    assert api_record(route53, hosted_zone) == (["192.0.2.10"], 300), "check mode changed the record"
    assert "192.0.2.21" in planned["diff"]["after"] and "192.0.2.10" in planned["diff"]["before"]

    applied = ansible.module(MODULE, args)
    assert not applied["failed"] and applied["changed"], applied
    assert api_record(route53, hosted_zone) == (["192.0.2.20", "192.0.2.21"], 60)
    assert applied["previous"] == {"value": ["192.0.2.10"], "ttl": 300, "alias": None}
    assert applied["change"]["status"] == "INSYNC" and applied["change"]["change_id"]

    same_again(ansible, args)
    assert api_record(route53, hosted_zone) == (["192.0.2.20", "192.0.2.21"], 60)

    # Failback by hosted zone id, restoring exactly what was there.
    failback = ansible.module(
        MODULE,
        aws_args(lab, hosted_zone_id=hosted_zone["id"], record=hosted_zone["record"], value=applied["previous"]["value"],
                 ttl=applied["previous"]["ttl"], expect_current=applied["new"]["value"]),
    )
    assert not failback["failed"] and failback["changed"], failback
    assert api_record(route53, hosted_zone) == (["192.0.2.10"], 300)


def test_route53_refuses_a_mismatch_and_names_a_missing_zone(ansible, lab, route53, hosted_zone):
    run = ansible.tasks([
        {"name": "mismatch", MODULE: aws_args(lab, zone=hosted_zone["name"], record=hosted_zone["record"], value=["192.0.2.20"],
                                              expect_current=["192.0.2.99"]), "ignore_errors": True},
        {"name": "no zone by name", MODULE: aws_args(lab, zone="no-such-zone.test", record="app.no-such-zone.test",
                                                     value=["192.0.2.20"]), "ignore_errors": True},
        {"name": "no zone by id", MODULE: aws_args(lab, hosted_zone_id="ZNOSUCHZONE123", record="app.no-such-zone.test",
                                                   value=["192.0.2.20"]), "ignore_errors": True},
    ])
    message = refused(run.result("mismatch"))
    assert "gate expect_current failed" in message and "192.0.2.10" in message and "192.0.2.99" in message, message
    assert api_record(route53, hosted_zone) == (["192.0.2.10"], 300)
    message = refused(run.result("no zone by name"))
    assert "zone not found" in message and "no-such-zone.test" in message, message
    message = refused(run.result("no zone by id"))
    assert "zone not found" in message and "ZNOSUCHZONE123" in message, message


def test_route53_failover_and_failback_in_one_play_with_module_defaults(ansible, lab, route53, hosted_zone, tmp_path):
    """What a runbook does: AWS options once in module_defaults, the failback fed from the registered previous."""
    aws = lab["aws"]
    target = {"provider": "route53", "zone": hosted_zone["name"], "record": hosted_zone["record"], "verify": False,
              "health_check": lab_health(lab)}
    play = [{
        "name": "Fail over and back",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/resilience.dr.aws": {key: aws[key] for key in ("endpoint_url", "region", "access_key", "secret_key")}},
        "tasks": [
            {"name": "Point app at the secondary", MODULE: dict(target, value=["192.0.2.30"], ttl=60), "register": "failover"},
            {"name": "Point app back", MODULE: dict(
                target, value="{{ failover.previous.value }}", ttl="{{ failover.previous.ttl }}", expect_current="{{ failover.new.value }}",
            )},
        ],
    }]
    path = tmp_path / "failover_failback.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    run = ansible.playbook(path)
    assert run.ok, run.tail()
    assert run.result("Point app at the secondary")["changed"]
    assert run.result("Point app at the secondary")["previous"] == {"value": ["192.0.2.10"], "ttl": 300, "alias": None}
    assert run.result("Point app back")["changed"]
    assert api_record(route53, hosted_zone) == (["192.0.2.10"], 300)


# --------------------------------------------------------------------------
# Route 53 alias records and failover routing pairs (moto server)
#
# moto's hosted zones have no name servers that answer, so these records are
# checked through the Route 53 API, as the module itself verifies an alias or
# a failover record set (name servers would answer an alias with its target's
# addresses and a failover pair with whichever record the health checks pick).

ALB_PRIMARY = {"dns_name": "dualstack.app-primary-123.us-east-1.elb.amazonaws.com", "hosted_zone_id": "Z35SXDOTRQ7X7K",
               "evaluate_target_health": True}
ALB_SECONDARY = {"dns_name": "dualstack.app-secondary-456.eu-west-1.elb.amazonaws.com", "hosted_zone_id": "Z32O12XQLNTSW2",
                 "evaluate_target_health": False}


def upsert(route53, zone_id: str, *record_sets: dict) -> None:
    # UPSERT, for the reason given in hosted_zone.
    route53.change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": item} for item in record_sets]}
    )


def stored(route53, zone: dict, set_identifier: str | None = None) -> dict | None:
    """app.<zone> A as Route 53 holds it (of a failover pair: the record set with set_identifier)."""
    for item in route53.list_resource_record_sets(HostedZoneId=zone["id"])["ResourceRecordSets"]:
        if item["Name"] == zone["record"] + "." and item["Type"] == "A" and item.get("SetIdentifier") == set_identifier:
            return item
    return None


def alias_of(item: dict | None) -> dict | None:
    if item is None or "AliasTarget" not in item:
        return None
    target = item["AliasTarget"]
    return {"dns_name": target["DNSName"].rstrip("."), "hosted_zone_id": target["HostedZoneId"],
            "evaluate_target_health": target["EvaluateTargetHealth"]}


@pytest.fixture
def alias_zone(route53, hosted_zone):
    """The hosted zone with app.<zone> A an alias to the primary site's load balancer."""
    record = {"Name": hosted_zone["record"] + ".", "Type": "A", "AliasTarget": {
        "HostedZoneId": ALB_PRIMARY["hosted_zone_id"], "DNSName": ALB_PRIMARY["dns_name"], "EvaluateTargetHealth": True}}
    route53.change_resource_record_sets(HostedZoneId=hosted_zone["id"], ChangeBatch={"Changes": [
        {"Action": "DELETE", "ResourceRecordSet": stored(route53, hosted_zone)},
        {"Action": "UPSERT", "ResourceRecordSet": record},
    ]})
    assert alias_of(stored(route53, hosted_zone)) == ALB_PRIMARY
    return hosted_zone


def test_route53_alias_fails_over_to_another_load_balancer_and_back(ansible, lab, route53, alias_zone):
    # verify stays on (the default): for an alias the module reads the record set back through the API.
    args = dict(aws_args(lab, zone=alias_zone["name"], record=alias_zone["record"], alias=ALB_SECONDARY,
                         expect_current=[ALB_PRIMARY["dns_name"]]), verify=True)

    planned = ansible.module(MODULE, args, check=True, diff=True)
    assert not planned["failed"] and planned["changed"], planned
    assert alias_of(stored(route53, alias_zone)) == ALB_PRIMARY, "check mode changed the record"
    assert planned["diff"]["before"] == (f"{alias_zone['record']}. ALIAS IN A {ALB_PRIMARY['dns_name']}. ; hosted_zone_id "
                                         f"Z35SXDOTRQ7X7K, evaluate_target_health true\n")
    assert planned["diff"]["after"] == (f"{alias_zone['record']}. ALIAS IN A {ALB_SECONDARY['dns_name']}. ; hosted_zone_id "
                                        f"Z32O12XQLNTSW2, evaluate_target_health false\n")

    applied = ansible.module(MODULE, args)
    assert not applied["failed"] and applied["changed"], applied
    assert alias_of(stored(route53, alias_zone)) == ALB_SECONDARY
    assert applied["previous"] == {"value": [], "ttl": None, "alias": ALB_PRIMARY}
    assert applied["new"] == {"value": [], "ttl": None, "alias": ALB_SECONDARY}
    assert applied["gates"]["expect_current"]["status"] == "passed"
    assert applied["verification"]["method"] == "api" and applied["verification"]["converged"], applied["verification"]

    again, _planned = same_again(ansible, args)
    assert again["verification"]["converged"]
    assert alias_of(stored(route53, alias_zone)) == ALB_SECONDARY

    # The failback feeds previous back as it is: value [] and ttl null with the alias.
    previous = applied["previous"]
    failback = ansible.module(MODULE, aws_args(
        lab, hosted_zone_id=alias_zone["id"], record=alias_zone["record"], value=previous["value"], ttl=previous["ttl"],
        alias=previous["alias"], expect_current=[applied["new"]["alias"]["dns_name"]],
    ))
    assert not failback["failed"] and failback["changed"], failback
    assert alias_of(stored(route53, alias_zone)) == ALB_PRIMARY


def test_route53_plain_record_becomes_an_alias_only_when_asked_and_fails_back(ansible, lab, route53, hosted_zone):
    target = aws_args(lab, zone=hosted_zone["name"], record=hosted_zone["record"], alias=ALB_SECONDARY)
    refused_run = ansible.module(MODULE, target)
    message = refused(refused_run)
    assert "is a plain record (192.0.2.10 (TTL 300)); alias would replace it" in message, message
    assert "refused unless allow_alias_conversion: true is given. Nothing was changed" in message, message
    assert api_record(route53, hosted_zone) == (["192.0.2.10"], 300)

    converted = ansible.module(MODULE, dict(target, allow_alias_conversion=True))
    assert not converted["failed"] and converted["changed"], converted
    assert alias_of(stored(route53, hosted_zone)) == ALB_SECONDARY
    assert converted["previous"] == {"value": ["192.0.2.10"], "ttl": 300, "alias": None}

    previous = converted["previous"]
    back = ansible.module(MODULE, aws_args(lab, zone=hosted_zone["name"], record=hosted_zone["record"], value=previous["value"],
                                           ttl=previous["ttl"], alias=previous["alias"], allow_alias_conversion=True))
    assert not back["failed"] and back["changed"], back
    assert api_record(route53, hosted_zone) == (["192.0.2.10"], 300)
    assert alias_of(stored(route53, hosted_zone)) is None


def test_route53_malformed_or_contradicting_alias_options_are_refused(ansible, lab, route53, alias_zone):
    base = aws_args(lab, zone=alias_zone["name"], record=alias_zone["record"])
    cases = {
        "no hosted zone id": dict(base, alias={"dns_name": ALB_SECONDARY["dns_name"]}),
        "not a zone id": dict(base, alias={"dns_name": ALB_SECONDARY["dns_name"], "hosted_zone_id": "my-alb"}),
        "alias and value": dict(base, alias=ALB_SECONDARY, value=["192.0.2.20"]),
        "alias with ttl": dict(base, alias=ALB_SECONDARY, ttl=60),
        "alias to plain": dict(base, value=["192.0.2.20"]),
        "verify_servers": dict(base, alias=ALB_SECONDARY, verify=True, verify_servers=["127.0.0.1:53"]),
    }
    run = ansible.tasks([{"name": name, MODULE: args, "ignore_errors": True} for name, args in cases.items()])
    messages = {name: refused(run.result(name)) for name in cases}
    assert alias_of(stored(route53, alias_zone)) == ALB_PRIMARY, "a refused change changed the record"
    assert messages["no hosted zone id"].startswith("alias has no hosted_zone_id; an alias needs both"), messages
    assert "alias.hosted_zone_id 'my-alb' is not a Route 53 hosted zone id" in messages["not a zone id"], messages
    assert "give either value or alias, not both" in messages["alias and value"], messages
    assert "ttl 60 cannot be set on an alias record" in messages["alias with ttl"], messages
    assert "value would replace it with a plain record" in messages["alias to plain"], messages
    assert "allow_alias_conversion: true" in messages["alias to plain"], messages
    assert "verify_servers cannot show" in messages["verify_servers"], messages


@pytest.fixture
def failover_pair(route53, hosted_zone):
    """app.<zone> A as a failover routing pair: PRIMARY 192.0.2.10 with a health check, SECONDARY 192.0.2.20."""
    health_check_id = route53.create_health_check(CallerReference=str(uuid.uuid4()), HealthCheckConfig={
        "IPAddress": "192.0.2.10", "Port": 443, "Type": "HTTPS", "ResourcePath": "/healthz", "FullyQualifiedDomainName": hosted_zone["record"],
    })["HealthCheck"]["Id"]
    name = hosted_zone["record"] + "."
    route53.change_resource_record_sets(HostedZoneId=hosted_zone["id"], ChangeBatch={"Changes": [
        {"Action": "DELETE", "ResourceRecordSet": stored(route53, hosted_zone)},
    ]})
    upsert(route53, hosted_zone["id"],
           {"Name": name, "Type": "A", "SetIdentifier": "primary", "Failover": "PRIMARY", "TTL": 60,
            "ResourceRecords": [{"Value": "192.0.2.10"}], "HealthCheckId": health_check_id},
           {"Name": name, "Type": "A", "SetIdentifier": "secondary", "Failover": "SECONDARY", "TTL": 60,
            "ResourceRecords": [{"Value": "192.0.2.20"}]})
    yield dict(hosted_zone, health_check_id=health_check_id)
    route53.delete_health_check(HealthCheckId=health_check_id)


def test_route53_failover_pair_primary_serves_the_secondary_site_and_fails_back(ansible, lab, route53, failover_pair):
    zone = failover_pair
    before_secondary = stored(route53, zone, "secondary")
    args = dict(aws_args(lab, zone=zone["name"], record=zone["record"], set_identifier="primary", value=["192.0.2.20"],
                         expect_current=["192.0.2.10"]), verify=True)

    planned = ansible.module(MODULE, args, check=True, diff=True)
    assert not planned["failed"] and planned["changed"], planned
    assert stored(route53, zone, "primary")["ResourceRecords"] == [{"Value": "192.0.2.10"}], "check mode changed the record"
    assert planned["diff"]["after"] == f"{zone['record']}. 60 IN A 192.0.2.20 ; failover PRIMARY, set_identifier primary\n"

    applied = ansible.module(MODULE, args)
    assert not applied["failed"] and applied["changed"], applied
    primary = stored(route53, zone, "primary")
    # Still the PRIMARY of the pair with its health check: only what it answers changed.
    assert (primary["ResourceRecords"], primary["Failover"], primary["HealthCheckId"], primary["TTL"]) == (
        [{"Value": "192.0.2.20"}], "PRIMARY", zone["health_check_id"], 60)
    assert stored(route53, zone, "secondary") == before_secondary
    assert applied["previous"] == {"value": ["192.0.2.10"], "ttl": 60, "alias": None}
    assert applied["verification"]["method"] == "api" and applied["verification"]["converged"]

    same_again(ansible, args)

    previous = applied["previous"]
    failback = ansible.module(MODULE, aws_args(lab, zone=zone["name"], record=zone["record"], set_identifier="primary",
                                               value=previous["value"], ttl=previous["ttl"], alias=previous["alias"],
                                               expect_current=applied["new"]["value"]))
    assert not failback["failed"] and failback["changed"], failback
    primary = stored(route53, zone, "primary")
    assert (primary["ResourceRecords"], primary["HealthCheckId"]) == ([{"Value": "192.0.2.10"}], zone["health_check_id"])
    assert stored(route53, zone, "secondary") == before_secondary


def test_route53_failover_pair_without_set_identifier_is_refused(ansible, lab, route53, failover_pair):
    result = ansible.module(MODULE, aws_args(lab, zone=failover_pair["name"], record=failover_pair["record"], value=["192.0.2.20"]))
    message = refused(result)
    assert "uses a routing policy, with the record sets primary (PRIMARY), secondary (SECONDARY); give set_identifier" in message, message
    assert stored(route53, failover_pair, "primary")["ResourceRecords"] == [{"Value": "192.0.2.10"}]
