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
        # Record sets exactly as Route 53 returned them: a DELETE must repeat them as they are.
        self._raw: dict[tuple[str, str], dict[str, t.Any]] = {}

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

    def read(self, name: str, rtype: str) -> RecordSet | None:
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
        if not found:
            return None
        special = [item for item in found if item.get("SetIdentifier") or item.get("AliasTarget")]
        if special or len(found) > 1:
            raise ConfigurationError(
                f"{display_name(name)} {rtype} in {self.where()} is an alias or uses a routing policy (weighted, "
                f"latency, failover, geolocation); dns_failover changes only simple record sets. Use "
                f"amazon.aws.route53 for it"
            )
        values = [record["Value"] for record in found[0].get("ResourceRecords", [])]
        record_set = RecordSet(name, rtype, int(found[0]["TTL"]), normalize_values(rtype, values, "value in Route 53"))
        self._raw[(name, rtype)] = {
            "Name": found[0]["Name"],
            "Type": rtype,
            "TTL": record_set.ttl,
            "ResourceRecords": list(found[0]["ResourceRecords"]),
        }
        return record_set

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
        changes.append({"Action": "CREATE", "ResourceRecordSet": _record_set(desired)})
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
        self._raw[(desired.name, desired.type)] = _record_set(desired)
        change_id = str(response["ChangeInfo"]["Id"]).rsplit("/", 1)[-1]
        status = str(response["ChangeInfo"].get("Status"))
        if status != "INSYNC":
            status = self._wait_insync(change_id, change)
        return {"change_id": change_id, "status": status}

    def _as_stored(self, record_set: RecordSet) -> dict[str, t.Any]:
        """The record set as Route 53 holds it (value order and name spelling included), for a DELETE."""
        stored = self._raw.get((record_set.name, record_set.type))
        if stored is not None and stored["TTL"] == record_set.ttl:
            values = [item["Value"] for item in stored["ResourceRecords"]]
            if normalize_values(record_set.type, values, "value in Route 53") == record_set.values:
                return stored
        return _record_set(record_set)

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


def _record_set(record_set: RecordSet) -> dict[str, t.Any]:
    return {
        "Name": record_set.name,
        "Type": record_set.type,
        "TTL": record_set.ttl,
        "ResourceRecords": [{"Value": value} for value in record_set.values],
    }
