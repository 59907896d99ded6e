#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_failover
short_description: Point a DNS record at another site, safely, and prove every server answers it
version_added: 0.1.0
description:
  - Changes one DNS record set (A, AAAA or CNAME) to new values, or a Route 53 alias to a new target, for failing an
    application over to its
    secondary site and back, with Route 53 (O(provider=route53)) or any server that accepts RFC 2136 dynamic
    updates signed with TSIG, such as BIND, PowerDNS and Knot (O(provider=rfc2136)).
  - Before the change, gates refuse it when the record holds something other than O(expect_current), when the
    new target fails O(health_check), or when the new target's data is older than O(max_rpo_seconds).
  - O(health_check) is required unless O(skip_gates) names V(health). Without either, the module fails before
    reading or changing anything, so traffic never moves to a target nobody checked.
  - Every gate skipped with O(skip_gates) is reported as a warning (and in RV(gates)) when the record changes.
  - The change is one atomic operation that succeeds only while the record still holds what was read
    (an RFC 2136 prerequisite, or a Route 53 change batch deleting exactly the old record set), so it is never
    half applied and never overwrites a change someone else made meanwhile. Route 53 changes are waited for
    until INSYNC.
  - After the change, O(verify=true) asks every authoritative server of the zone until all answer the new
    record set.
  - Returns RV(previous), the values and TTL the record held, so a failback restores it exactly.
  - See docs/dns-failover.md in the collection for incident examples, TSIG key setup and the IAM policy.
author: resilience.dr maintainers (@resilience-dr)
options:
  provider:
    description: Where the zone is managed.
    type: str
    required: true
    choices: [route53, rfc2136]
  zone:
    description:
      - The zone holding the record, for example V(example.com).
      - Required for O(provider=rfc2136). For Route 53, the hosted zone is found by this name unless
        O(hosted_zone_id) is given.
    type: str
  hosted_zone_id:
    description: The Route 53 hosted zone id (V(Z0123456789ABC)); needed when a public and a private zone share a name.
    type: str
  record:
    description: The full name of the record, inside O(zone), for example V(app.example.com).
    type: str
    required: true
  type:
    description: The record type.
    type: str
    choices: [A, AAAA, CNAME]
    default: A
  value:
    description:
      - The values the record set holds after the change (addresses, or one name for a CNAME). Order does not matter.
      - Required unless O(alias) is given; V([]) with O(alias) is accepted, so a failback can pass RV(previous.value) and
        RV(previous.alias) both.
    type: list
    elements: str
  ttl:
    description:
      - The TTL of the record set after the change. When omitted, the record keeps its TTL (a new record gets 300).
      - Not with O(alias) (Route 53 answers an alias with its target's TTL); V(null) is accepted.
    type: int
  alias:
    description:
      - For O(provider=route53), the Route 53 alias the record points at after the change, instead of O(value) - an
        Application or Network Load Balancer, a CloudFront distribution, or another record of the zone.
      - An alias record that already points there is not changed. A plain record is not turned into an alias (or
        back) unless O(allow_alias_conversion=true).
      - After the change the record set is read back through the Route 53 API (see O(verify)).
    type: dict
    suboptions:
      dns_name:
        description: The target's DNS name, for example V(dualstack.my-alb-123.eu-west-1.elb.amazonaws.com).
        type: str
      hosted_zone_id:
        description:
          - The hosted zone id of the target itself (not of the zone holding O(record)), for example V(Z32O12XQLNTSW2)
            for an ALB in eu-west-1, V(Z2FDTNDATAQYW2) for CloudFront, or the zone's own id for a record in it.
        type: str
      evaluate_target_health:
        description: Whether Route 53 evaluates the target's health (must be V(false) for CloudFront).
        type: bool
        default: false
  allow_alias_conversion:
    description:
      - Allow turning a plain record into an alias (O(alias) given, the record holds values) or an alias into a plain
        record (O(value) given, the record is an alias). Without it such a change is refused before anything changes.
    type: bool
    default: false
  set_identifier:
    description:
      - For O(provider=route53), the record set to change among the records of a failover routing pair
        (C(Failover) V(PRIMARY)/V(SECONDARY)), by its C(SetIdentifier). Required when the name uses failover
        routing; other routing policies (weighted, latency, geolocation) are refused.
      - To fail over, point the V(PRIMARY) record set at the secondary site (O(value) or O(alias)); it keeps its
        failover role and health check. Fail back with RV(previous) and the same O(set_identifier).
      - The record set must exist; the module does not create routing-policy records.
    type: str
  expect_current:
    description:
      - The values the record must hold now; the change is refused when it holds anything else (another operator
        may have acted), unless O(force=true). V([]) means the record must not exist.
      - When the record already holds O(value), nothing changes and this is not checked.
    type: list
    elements: str
  force:
    description: Change the record even when it does not hold O(expect_current). Does not skip the other gates.
    type: bool
    default: false
  lower_ttl_first:
    description:
      - When the record's TTL is longer than O(ttl), first set the record (old values) to O(ttl), wait until every
        authoritative server answers it (O(verify)), then wait out the old TTL so that resolvers only hold the short
        TTL, and only then switch the values. Requires O(ttl).
    type: bool
    default: false
  lower_ttl_max_wait:
    description: The longest old TTL O(lower_ttl_first) waits out; a longer one is refused before anything changes.
    type: int
    default: 900
  health_check:
    description:
      - A check of the new target from the host that runs the module; the change is refused when it fails
        (gate V(health)).
      - Required, unless O(skip_gates) names V(health).
    type: dict
    suboptions:
      tcp:
        description: V(host:port) that must accept a TCP connection.
        type: str
      http:
        description: A URL whose GET must answer O(health_check.status). Redirects are not followed.
        type: str
      status:
        description: The HTTP status the URL must answer.
        type: int
        default: 200
      timeout:
        description: Seconds the check may take.
        type: float
        default: 5
      validate_certs:
        description: Verify the TLS certificate of an V(https) URL.
        type: bool
        default: true
  skip_gates:
    description:
      - Gates to skip deliberately, by name. A skipped gate still runs and reports its outcome in RV(gates),
        but does not refuse the change. O(expect_current) is overridden with O(force) instead.
      - Each skipped gate is reported as a warning whenever the record would change (also in check mode).
      - V(health) here lets the module run without O(health_check).
    type: list
    elements: str
    choices: [health, rpo]
    default: []
  max_rpo_seconds:
    description:
      - The oldest the new target's data may be (gate V(rpo)), compared with O(rpo_seconds). When set and
        O(rpo_seconds) is missing (unknown data age), the gate refuses.
    type: float
  rpo_seconds:
    description: The age of the new target's newest data in seconds, for example from M(resilience.dr.pg_rpo_info).
    type: float
  verify:
    description:
      - After the change (and on a run that changes nothing), ask every authoritative server until all answer the
        new record set, or fail after O(verify_timeout). The servers are the zone's NS records as the O(server)
        answers them (asked on O(port)), Route 53's name servers of the hosted zone, or O(verify_servers).
      - An alias record, or a record set of a failover routing pair (O(set_identifier)), is read back through the
        Route 53 API instead (after Route 53 reports the change INSYNC), because name servers answer an alias with its
        target's addresses, and a failover pair with whichever record the health checks pick, so their answers
        cannot show the record set. O(verify_servers) is refused for these.
    type: bool
    default: true
  verify_servers:
    description: The servers to verify against instead, as V(host) or V(host:port) (port defaults to O(port)).
    type: list
    elements: str
  verify_timeout:
    description: Seconds to wait for every server to answer the new record set.
    type: int
    default: 120
  wait_timeout:
    description: Seconds to wait for Route 53 to report the change INSYNC.
    type: int
    default: 300
  server:
    description: The DNS server that accepts updates for the zone (its primary), name or address. For O(provider=rfc2136).
    type: str
  port:
    description: The port of O(server), also used to ask the zone's name servers and O(verify_servers) without a port.
    type: int
    default: 53
  tsig_key_name:
    description: The name of the TSIG key updates are signed with. Without it, updates are sent unsigned.
    type: str
  tsig_key_secret:
    description: The TSIG key's secret, base64 encoded.
    type: str
  tsig_algorithm:
    description: The TSIG key's algorithm.
    type: str
    default: hmac-sha256
    choices: [hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512]
attributes:
  check_mode:
    description: Reads the record, runs the gates (including the health check) and reports the change it would make.
    support: full
  diff_mode:
    description: Shows the record set before and after, in zone file form.
    support: full
notes:
  - The AWS options (O(endpoint_url), O(region), credentials, O(profile)) apply to O(provider=route53) only.
  - "Run it on the controller (C(delegate_to: localhost)) so that health checks and verification see what users see."
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
requirements:
  - dnspython >= 2.4 (O(provider=rfc2136), and O(verify))
  - boto3 and botocore (O(provider=route53))
"""

EXAMPLES = r"""
- name: Fail app.example.com over to the secondary site (BIND, TSIG)
  resilience.dr.dns_failover:
    provider: rfc2136
    server: ns1.example.com
    zone: example.com
    record: app.example.com
    value: [203.0.113.20]
    ttl: 300
    expect_current: [198.51.100.10]
    health_check:
      http: https://203.0.113.20/healthz
    max_rpo_seconds: 900
    rpo_seconds: "{{ secondary_rpo.rpo_seconds }}"
    tsig_key_name: dr-failover
    tsig_key_secret: "{{ vault_dr_tsig_secret }}"
  delegate_to: localhost
  register: dns_failover

- name: Fail back to exactly what the record held before the failover
  resilience.dr.dns_failover:
    provider: rfc2136
    server: ns1.example.com
    zone: example.com
    record: app.example.com
    value: "{{ dns_failover.previous.value }}"
    ttl: "{{ dns_failover.previous.ttl }}"
    expect_current: "{{ dns_failover.new.value }}"
    health_check:
      tcp: 198.51.100.10:443
    tsig_key_name: dr-failover
    tsig_key_secret: "{{ vault_dr_tsig_secret }}"
  delegate_to: localhost

- name: Fail over in Route 53, lowering the TTL first; the primary is down, so skip only the health gate
  resilience.dr.dns_failover:
    provider: route53
    zone: example.com
    record: api.example.com
    type: CNAME
    value: [api.eu-west-1.example.com]
    ttl: 60
    lower_ttl_first: true
    expect_current: [api.us-east-1.example.com]
    health_check:
      http: https://api.eu-west-1.example.com/healthz
    skip_gates: [health]
  delegate_to: localhost

- name: Point the alias app.example.com at the secondary region's load balancer
  resilience.dr.dns_failover:
    provider: route53
    zone: example.com
    record: app.example.com
    alias:
      dns_name: dualstack.app-eu-123456.eu-west-1.elb.amazonaws.com
      hosted_zone_id: Z32O12XQLNTSW2  # the ALB's zone (eu-west-1), not example.com's
      evaluate_target_health: true
    expect_current: [dualstack.app-us-654321.us-east-1.elb.amazonaws.com]
    health_check:
      http: https://app-eu.example.com/healthz
  delegate_to: localhost
  register: alias_failover

- name: Fail the alias back to what it pointed at
  resilience.dr.dns_failover:
    provider: route53
    zone: example.com
    record: app.example.com
    value: "{{ alias_failover.previous.value }}"
    ttl: "{{ alias_failover.previous.ttl }}"
    alias: "{{ alias_failover.previous.alias }}"
    expect_current: ["{{ alias_failover.new.alias.dns_name }}"]
    health_check:
      http: https://app-us.example.com/healthz
  delegate_to: localhost

- name: Failover routing pair - make the PRIMARY record set serve the secondary site
  resilience.dr.dns_failover:
    provider: route53
    zone: example.com
    record: api.example.com
    set_identifier: api-primary
    value: [203.0.113.20]
    expect_current: [198.51.100.10]
    health_check:
      tcp: 203.0.113.20:443
  delegate_to: localhost
"""

RETURN = r"""
previous:
  description: The record set before the change (also in check mode and on failure after a change), for a failback.
  returned: always
  type: dict
  contains:
    value: {description: The values (feed them back as O(value)); empty when the record did not exist or is an alias., type: list, elements: str}
    ttl: {description: The TTL (feed it back as O(ttl)); null when the record did not exist or is an alias., type: int}
    alias:
      description: The Route 53 alias the record pointed at (feed it back as O(alias)); null for a plain record.
      type: dict
      contains:
        dns_name: {description: The alias target's DNS name., type: str}
        hosted_zone_id: {description: The alias target's hosted zone id., type: str}
        evaluate_target_health: {description: Whether Route 53 evaluated the target's health., type: bool}
  sample: {value: [198.51.100.10], ttl: 3600, alias: null}
new:
  description: The record set after the change (or that the change would set in check mode).
  returned: always
  type: dict
  sample: {value: [203.0.113.20], ttl: 300, alias: null}
provider: {description: The provider used., returned: always, type: str, sample: rfc2136}
zone: {description: The zone's name., returned: always, type: str, sample: example.com}
record: {description: The record's full name., returned: always, type: str, sample: app.example.com}
type: {description: The record type., returned: always, type: str, sample: A}
gates:
  description:
    - Each gate (V(expect_current), V(health), V(rpo)) with its status (V(passed), V(failed), V(skipped),
      V(overridden), V(not_configured), V(not_needed)) and a detail saying what was checked.
  returned: always
  type: dict
  sample: {health: {status: passed, detail: "tcp 203.0.113.20:443: 203.0.113.20:443 accepted a TCP connection in 0.004s"}}
lower_ttl:
  description: The TTL lowering done first (O(lower_ttl_first)), with the seconds waited; null when none was needed.
  returned: always
  type: dict
  sample: {from_ttl: 3600, to_ttl: 60, waited_s: 3600.2}
change:
  description: The change made; for Route 53 its change_id and status, for RFC 2136 the server and TSIG key name.
  returned: when the record changed
  type: dict
  sample: {change_id: C2682N5HXP0BZ4, status: INSYNC}
verification:
  description: Every authoritative server's answer and when it converged; null in check mode or with O(verify=false).
  returned: always
  type: dict
  contains:
    method:
      description: V(dns) (the authoritative servers were asked) or V(api) (an alias or failover record set read back from Route 53).
      type: str
    converged: {description: Whether every server answers the new record set., type: bool}
    converged_after_s: {description: Seconds from the change until the last server answered it., type: float}
    servers: {description: "Per server: server, address, port, value, ttl, rcode, error, converged, converged_after_s.", type: list, elements: dict}
  sample: {converged: true, converged_after_s: 0.01, servers: [{server: ns1.example.com, address: 192.0.2.53, port: 53,
           value: [203.0.113.20], ttl: 300, rcode: NOERROR, error: null, converged: true, converged_after_s: 0.01}]}
"""


from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import aws_client, require_boto3  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._dns.failover import Tools, failover  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._dns.plan import Request  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._dns.records import Provider  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._dns import health, query  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._dns.route53 import Route53Provider  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._dns.rfc2136 import TSIG_ALGORITHMS, Rfc2136Provider  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._module import mask_options, require_libraries, run_module  # noqa: E402


def argument_spec() -> dict:
    return dict(
        provider=dict(type="str", required=True, choices=["route53", "rfc2136"]),
        zone=dict(type="str"),
        hosted_zone_id=dict(type="str"),
        record=dict(type="str", required=True),
        type=dict(type="str", default="A", choices=["A", "AAAA", "CNAME"]),
        value=dict(type="list", elements="str"),
        ttl=dict(type="int"),
        alias=dict(
            type="dict",
            options=dict(
                dns_name=dict(type="str"),
                hosted_zone_id=dict(type="str"),
                evaluate_target_health=dict(type="bool", default=False),
            ),
        ),
        allow_alias_conversion=dict(type="bool", default=False),
        set_identifier=dict(type="str"),
        expect_current=dict(type="list", elements="str"),
        force=dict(type="bool", default=False),
        lower_ttl_first=dict(type="bool", default=False),
        lower_ttl_max_wait=dict(type="int", default=900),
        health_check=dict(
            type="dict",
            options=dict(
                tcp=dict(type="str"),
                http=dict(type="str"),
                status=dict(type="int", default=200),
                timeout=dict(type="float", default=5),
                validate_certs=dict(type="bool", default=True),
            ),
            mutually_exclusive=[("tcp", "http")],
            required_one_of=[("tcp", "http")],
        ),
        skip_gates=dict(type="list", elements="str", default=[], choices=["health", "rpo"]),
        max_rpo_seconds=dict(type="float"),
        rpo_seconds=dict(type="float"),
        verify=dict(type="bool", default=True),
        verify_servers=dict(type="list", elements="str"),
        verify_timeout=dict(type="int", default=120),
        wait_timeout=dict(type="int", default=300),
        server=dict(type="str"),
        port=dict(type="int", default=53),
        tsig_key_name=dict(type="str", no_log=False),
        tsig_key_secret=dict(type="str", no_log=True),
        tsig_algorithm=dict(type="str", default="hmac-sha256", choices=list(TSIG_ALGORITHMS)),
    )


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        # boto3 is needed only by the route53 provider; checked below.
        check_boto3=False,
        required_if=[
            ("provider", "rfc2136", ("server", "zone")),
            ("provider", "route53", ("zone", "hosted_zone_id"), True),
            ("lower_ttl_first", True, ("ttl",)),
        ],
        required_together=[("tsig_key_name", "tsig_key_secret")],
    )
    mask_options(module, "access_key")  # a secret of the DR plan, like secret_key
    params = module.params
    if params["provider"] == "rfc2136" or params["verify"]:
        require_libraries(module, query.require_dnspython)
    if params["provider"] == "route53":
        require_libraries(module, require_boto3)

    def work() -> dict:
        request = Request.from_params(params)
        tools = Tools(health_probe=health.probe, query=query.observe, resolve=query.resolve_endpoint, warn=module.warn)
        provider: Provider
        if params["provider"] == "route53":
            # Route 53 is global; requests are signed for us-east-1 when no region is configured.
            region = {} if module.region else {"region": "us-east-1"}
            provider = Route53Provider(
                aws_client(module, "route53", **region),
                query.resolve_endpoint,
                zone=params["zone"],
                hosted_zone_id=params["hosted_zone_id"],
                wait_timeout=params["wait_timeout"],
            )
        else:
            provider = Rfc2136Provider(
                params["server"],
                params["port"],
                params["zone"],
                key_name=params["tsig_key_name"],
                key_secret=params["tsig_key_secret"],
                algorithm=params["tsig_algorithm"],
            )
        return failover(provider, request, tools, check_mode=module.check_mode, diff=module._diff)

    run_module(module, work)


if __name__ == "__main__":
    main()
