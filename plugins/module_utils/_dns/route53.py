# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Route 53 provider.

A change is one change batch: DELETE of the record set exactly as it was read
plus CREATE of the new one (or CREATE alone when there was none). Route 53
applies a batch entirely or not at all, and refuses the DELETE when the
record set no longer matches, so a racing change is never overwritten
silently. The provider then waits until Route 53 reports the change INSYNC.

The client is a boto3 Route 53 client from _aws.clients.aws_client, which
also retries PriorRequestNotComplete (calls pass aws_retry=True).
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._aws.errors import (
    BotoCoreError,
    ClientError,
    error_code,
    error_message,
    failure,
    is_access_denied,
)
from ansible_collections.resilience.dr.plugins.module_utils._dns.records import (
    AliasTarget,
    Endpoint,
    RecordSet,
    describe,
    display_name,
    normalize_name,
    normalize_values,
)
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    GateRefused,
    SourceUnavailable,
    WaitTimeout,
)
from ansible_collections.resilience.dr.plugins.module_utils._timing import wait_for

ResolveHost = t.Callable[[str, int], Endpoint]

# Route 53 is global: no region to check when it cannot be reached.
_UNREACHABLE_HINT = "check endpoint_url, the network and the credentials"
_IAM_HINT = (
    "the credentials need route53:GetHostedZone, route53:ListHostedZonesByName, "
    "route53:ListResourceRecordSets, route53:ChangeResourceRecordSets and route53:GetChange (see docs/dns-failover.md)"
)


class Route53Provider:
    name = "route53"

    def __init__(
        self,
        client: t.Any,
        resolve_host: ResolveHost,
        zone: str | None = None,
        hosted_zone_id: str | None = None,
        wait_timeout: float = 300,
        poll_interval: float = 2.0,
    ) -> None:
        if not zone and not hosted_zone_id:
            raise ConfigurationError("provider route53 needs zone or hosted_zone_id")
        self.client = client
        self.resolve_host = resolve_host
        self.zone = normalize_name(zone, "zone") if zone else None
        self.zone_id = hosted_zone_id.rsplit("/", 1)[-1] if hosted_zone_id else None
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self.private = False
        self.nameservers: list[str] = []
        # Record sets as read (or last written) and exactly as Route 53 holds them: a DELETE must repeat them as they
        # are, and a CREATE keeps their routing policy (SetIdentifier, Failover, HealthCheckId).
        self._raw: dict[tuple[str, str, str | None], tuple[RecordSet, dict[str, t.Any]]] = {}

    def where(self) -> str:
        return f"Route 53 hosted zone {self.zone_id} ({display_name(self.zone or '')})"

    def _call(self, what: str, method: str, **kwargs: t.Any) -> t.Any:
        """One API call with retries; AWS errors become messages that say what to do."""
        try:
            return getattr(self.client, method)(aws_retry=True, **kwargs)
        except ClientError as error:
            code = error_code(error)
            if code == "NoSuchHostedZone":
                raise ConfigurationError(
                    f"zone not found: Route 53 has no hosted zone {kwargs.get('Id') or kwargs.get('HostedZoneId')} "
                    f"({error_message(error)}); check hosted_zone_id, or give zone to find it by name",
                    hosted_zone_id=self.zone_id,
                ) from None
            if is_access_denied(error):
                raise ConfigurationError(f"Route 53 denied {what}: {error_message(error)}; {_IAM_HINT}") from None
            raise failure(error, "Route 53", what, _IAM_HINT) from None
        except BotoCoreError as error:
            raise failure(error, "Route 53", what, _IAM_HINT, _UNREACHABLE_HINT) from None

    # ---- reading

    def zone_name(self) -> str:
        if self.zone_id:
            found = self._call(f"read hosted zone {self.zone_id}", "get_hosted_zone", Id=self.zone_id)
            name = normalize_name(found["HostedZone"]["Name"])
            if self.zone and self.zone != name:
                raise ConfigurationError(
                    f"hosted zone {self.zone_id} is {display_name(name)}, not zone {display_name(self.zone)}; give one "
                    f"of zone and hosted_zone_id, or make them agree"
                )
            self.zone = name
        else:
            zone = str(self.zone)
            listed = self._call(
                f"list hosted zones named {display_name(zone)}", "list_hosted_zones_by_name", DNSName=zone, MaxItems="100"
            )
            matches = [item for item in listed.get("HostedZones", []) if normalize_name(item["Name"]) == zone]
            if not matches:
                raise ConfigurationError(
                    f"zone not found: Route 53 has no hosted zone named {display_name(zone)} for these credentials; "
                    f"check zone (and the account, endpoint_url and profile)",
                    zone=display_name(zone),
                )
            if len(matches) > 1:
                ids = ", ".join(item["Id"].rsplit("/", 1)[-1] for item in matches)
                raise ConfigurationError(
                    f"Route 53 has {len(matches)} hosted zones named {display_name(zone)} ({ids}), for example a "
                    f"public and a private one; give hosted_zone_id to choose"
                )
            self.zone_id = matches[0]["Id"].rsplit("/", 1)[-1]
            found = self._call(f"read hosted zone {self.zone_id}", "get_hosted_zone", Id=self.zone_id)
        self.private = bool(found["HostedZone"].get("Config", {}).get("PrivateZone"))
        self.nameservers = list((found.get("DelegationSet") or {}).get("NameServers") or [])
        return str(self.zone)

    def read(self, name: str, rtype: str, set_identifier: str | None = None) -> RecordSet | None:
        listed = self._call(
            f"list the record sets of {display_name(name)} in {self.where()}",
            "list_resource_record_sets",
            HostedZoneId=self.zone_id,
            StartRecordName=name,
            StartRecordType=rtype,
            MaxItems="10",
        )
        found = [
            item
            for item in listed.get("ResourceRecordSets", [])
            if normalize_name(item["Name"]) == name and item["Type"] == rtype
        ]
        item = self._choose(found, name, rtype, set_identifier)
        if item is None:
            return None
        record_set = _parse(item, name, rtype)
        self._raw[(name, rtype, record_set.set_identifier)] = (record_set, item)
        return record_set

    def _choose(
        self, found: list[dict[str, t.Any]], name: str, rtype: str, set_identifier: str | None
    ) -> dict[str, t.Any] | None:
        """The one record set to change: the simple one, or the one of a failover pair named by set_identifier."""
        label = f"{display_name(name)} {rtype} in {self.where()}"
        routed = [item for item in found if item.get("SetIdentifier")]
        identifiers = ", ".join(f"{item['SetIdentifier']} ({item.get('Failover', 'no failover role')})" for item in routed)
        if set_identifier is None:
            if routed:
                raise ConfigurationError(
                    f"{label} uses a routing policy, with the record sets {identifiers}; give set_identifier to "
                    f"choose the one to change (for failover routing, the PRIMARY one). Nothing was changed"
                )
            return found[0] if found else None
        chosen = [item for item in routed if item["SetIdentifier"] == set_identifier]
        if not chosen:
            return None
        if "Failover" not in chosen[0]:
            raise ConfigurationError(
                f"{label} set_identifier {set_identifier} belongs to a weighted, latency, geolocation or multivalue "
                f"routing policy; dns_failover changes simple record sets and failover routing pairs only. Use "
                f"amazon.aws.route53 for it. Nothing was changed"
            )
        return chosen[0]

    def authoritative_servers(self) -> list[Endpoint]:
        if self.private or not self.nameservers:
            raise ConfigurationError(
                f"{self.where()} is a private zone (or has no delegation set): its records are answered only inside "
                f"its VPCs. Give verify_servers (a resolver inside the VPC, such as the VPC's .2 address) or verify: false"
            )
        return [self.resolve_host(server, 53) for server in self.nameservers]

    # ---- changing

    def apply(self, current: RecordSet | None, desired: RecordSet) -> dict[str, t.Any]:
        changes = []
        if current is not None:
            changes.append({"Action": "DELETE", "ResourceRecordSet": self._as_stored(current)})
        created = _record_set(desired, self._routing_of(current))
        changes.append({"Action": "CREATE", "ResourceRecordSet": created})
        change = f"{display_name(desired.name)} {desired.type} from {describe(current)} to {desired.describe()}"
        batch = {"Comment": f"resilience.dr dns_failover: {change}"[:256], "Changes": changes}
        try:
            response = self.client.change_resource_record_sets(aws_retry=True, HostedZoneId=self.zone_id, ChangeBatch=batch)
        except ClientError as error:
            code = error_code(error)
            if code == "InvalidChangeBatch":
                raise GateRefused(
                    f"Route 53 refused the change of {change} in {self.where()}: {error_message(error)}. The record "
                    f"most likely changed after it was read; nothing was changed (a change batch applies entirely or "
                    f"not at all). Run again to read the record anew",
                    hosted_zone_id=self.zone_id,
                ) from None
            if is_access_denied(error):
                raise ConfigurationError(
                    f"Route 53 denied the change of {change}: {error_message(error)}; nothing was changed. {_IAM_HINT}"
                ) from None
            raise SourceUnavailable(
                f"Route 53 failed the change of {change} in {self.where()}: {code}: {error_message(error)}; "
                f"nothing was changed"
            ) from None
        except BotoCoreError as error:
            raise SourceUnavailable(
                f"Route 53 could not be reached for the change of {change}: {error}; the change may or may not have "
                f"been accepted: read the record before running again"
            ) from None
        self._raw[(desired.name, desired.type, desired.set_identifier)] = (desired, created)
        change_id = str(response["ChangeInfo"]["Id"]).rsplit("/", 1)[-1]
        status = str(response["ChangeInfo"].get("Status"))
        if status != "INSYNC":
            status = self._wait_insync(change_id, change)
        return {"change_id": change_id, "status": status}

    def _as_stored(self, record_set: RecordSet) -> dict[str, t.Any]:
        """The record set as Route 53 holds it (value order, name spelling, routing fields included), for a DELETE."""
        stored = self._raw.get((record_set.name, record_set.type, record_set.set_identifier))
        if stored is not None and stored[0].same_as(record_set):
            return stored[1]
        return _record_set(record_set, self._routing_of(record_set))

    def _routing_of(self, record_set: RecordSet | None) -> dict[str, t.Any]:
        """The routing-policy fields of a record set as read: a changed failover record keeps its role and health check."""
        if record_set is None:
            return {}
        stored = self._raw.get((record_set.name, record_set.type, record_set.set_identifier))
        if stored is None:
            return {"SetIdentifier": record_set.set_identifier, "Failover": record_set.failover} if record_set.set_identifier else {}
        return {key: value for key, value in stored[1].items() if key not in _VALUE_FIELDS}

    def _wait_insync(self, change_id: str, change: str) -> str:
        def probe() -> str | None:
            info = self._call(f"read change {change_id}", "get_change", Id=change_id)["ChangeInfo"]
            return "INSYNC" if info.get("Status") == "INSYNC" else None

        try:
            return wait_for(
                probe, timeout=self.wait_timeout, what=f"change {change_id}", interval=self.poll_interval, max_interval=10
            )
        except WaitTimeout:
            raise WaitTimeout(
                f"Route 53 accepted change {change_id} ({change}) and will apply it, but did not report it INSYNC "
                f"within wait_timeout {self.wait_timeout:g}s",
                change_id=change_id,
                changed=True,
            ) from None


# The fields of a record set that say what it answers; every other field is its routing policy.
_VALUE_FIELDS = ("Name", "Type", "TTL", "ResourceRecords", "AliasTarget")


def _parse(item: dict[str, t.Any], name: str, rtype: str) -> RecordSet:
    set_identifier, failover_role = item.get("SetIdentifier") or None, item.get("Failover") or None
    alias = item.get("AliasTarget")
    if alias:
        target = AliasTarget(
            normalize_name(alias["DNSName"], "alias target in Route 53"),
            str(alias["HostedZoneId"]).rsplit("/", 1)[-1],
            bool(alias.get("EvaluateTargetHealth")),
        )
        return RecordSet(name, rtype, None, (), alias=target, set_identifier=set_identifier, failover=failover_role)
    values = [record["Value"] for record in item.get("ResourceRecords", [])]
    values_read = normalize_values(rtype, values, "value in Route 53")
    return RecordSet(name, rtype, int(item["TTL"]), values_read, set_identifier=set_identifier, failover=failover_role)


def _record_set(record_set: RecordSet, routing: dict[str, t.Any]) -> dict[str, t.Any]:
    stored: dict[str, t.Any] = {"Name": record_set.name, "Type": record_set.type}
    if record_set.alias is not None:
        stored["AliasTarget"] = {
            "HostedZoneId": record_set.alias.hosted_zone_id,
            "DNSName": record_set.alias.dns_name,
            "EvaluateTargetHealth": record_set.alias.evaluate_target_health,
        }
    else:
        stored["TTL"] = record_set.ttl
        stored["ResourceRecords"] = [{"Value": value} for value in record_set.values]
    stored.update(routing)
    return stored
