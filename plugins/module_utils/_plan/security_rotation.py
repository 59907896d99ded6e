# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The credentials a security incident rotates beyond PostgreSQL and Redis users (dr_plan.security).

`rds_credentials` (the master password of an rds component), `iam_access_keys`
(the access keys of named IAM users, the old one deleted after `iam_key_grace`),
`app_secrets` (a generated value in an environment file and/or a Secrets
Manager secret) and `tsig_key` (the DNS provider's TSIG key, where the plan
owns the server's key file). Each is checked here, every problem listed at once.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import refuse_unknown_keys, seconds

# Where a new secret is handed to the application (the role's tasks/publish.yml and its siblings).
PUBLISH_KEYS = frozenset(("name", "env_file", "env_var", "secret_id", "aws", "host"))
RDS_CREDENTIAL_KEYS = PUBLISH_KEYS | {"component"}
IAM_ACCESS_KEY_KEYS = PUBLISH_KEYS | {"user", "env_var_id"}
APP_SECRET_KEYS = PUBLISH_KEYS | {"length"}
TSIG_KEY_KEYS = PUBLISH_KEYS | {"key_file", "owner", "group", "reload_command"}
# How long a replaced IAM access key stays (inactive) before a run deletes it.
DEFAULT_IAM_KEY_GRACE = "7d"


def _entries(security: dict[str, t.Any], key: str, problems: list[str]) -> list[tuple[str, dict[str, t.Any]]]:
    """The mappings of the list security.<key>, each with a label for messages."""
    value = security.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"dr_plan.security.{key} must be a list")
        return []
    entries = []
    for position, entry in enumerate(value, start=1):
        if not isinstance(entry, dict):
            problems.append(f"dr_plan.security.{key} entry {position} must be a mapping")
            continue
        entries.append((f"dr_plan.security.{key} entry {entry.get('name') or position}", entry))
    return entries


def _check_publish(where: str, entry: dict[str, t.Any], problems: list[str], id_var: bool = False) -> None:
    """env_file and env_var go together; a secret with no place to go is lost at once."""
    if bool(entry.get("env_file")) != bool(entry.get("env_var")):
        problems.append(f"{where} needs env_file and env_var together (the file and the variable the application reads)")
    if id_var and entry.get("env_var_id") and not entry.get("env_file"):
        problems.append(f"{where} has env_var_id without env_file")
    if not entry.get("env_file") and not entry.get("secret_id"):
        problems.append(f"{where} has nowhere to put the new secret: give env_file and env_var, or secret_id (Secrets Manager)")
    aws = entry.get("aws")
    if aws is not None and not isinstance(aws, dict):
        problems.append(f"{where} aws must be a mapping of AWS connection options (region, endpoint_url, ...)")


def check_security_rotation(plan: dict[str, t.Any], problems: list[str]) -> None:
    """dr_plan.security's rds_credentials, iam_access_keys, iam_key_grace, app_secrets and tsig_key."""
    security = plan.get("security")
    if not isinstance(security, dict):
        return
    kinds = {component.get("name"): component.get("kind") for component in plan.get("components") or []
             if isinstance(component, dict)}
    for where, entry in _entries(security, "rds_credentials", problems):
        refuse_unknown_keys(entry, RDS_CREDENTIAL_KEYS, where, problems)
        if kinds.get(entry.get("component")) != "rds":
            problems.append(f"{where} names component {entry.get('component')!r}, which is not an rds component of the plan")
        _check_publish(where, entry, problems)
    for where, entry in _entries(security, "iam_access_keys", problems):
        refuse_unknown_keys(entry, IAM_ACCESS_KEY_KEYS, where, problems)
        if not entry.get("user"):
            problems.append(f"{where} has no user (the IAM user whose access key is replaced)")
        _check_publish(where, entry, problems, id_var=True)
    grace = seconds(security.get("iam_key_grace", DEFAULT_IAM_KEY_GRACE), "dr_plan.security.iam_key_grace", problems)
    if grace is not None and grace < 0:
        problems.append("dr_plan.security.iam_key_grace must not be negative (0 deletes a replaced key in the same run)")
    rotated = {entry.get("secret_id") for key in ("credentials", "rds_credentials", "iam_access_keys")
               for _where, entry in _entries(security, key, []) if entry.get("secret_id")}
    for where, entry in _entries(security, "app_secrets", problems):
        refuse_unknown_keys(entry, APP_SECRET_KEYS, where, problems)
        _check_publish(where, entry, problems)
        if entry.get("secret_id") in rotated:
            problems.append(f"{where} has secret_id {entry['secret_id']}, which a rotated credential already writes; "
                            "drop it from app_secrets")
        length = entry.get("length", 48)
        if not isinstance(length, int) or isinstance(length, bool) or not 16 <= length <= 4096:
            problems.append(f"{where} has length {length!r}; give a whole number of characters from 16 to 4096")
    tsig = security.get("tsig_key")
    if tsig is not None:
        _check_tsig(plan, tsig, problems)


def _check_tsig(plan: dict[str, t.Any], tsig: t.Any, problems: list[str]) -> None:
    where = "dr_plan.security.tsig_key"
    if not isinstance(tsig, dict):
        problems.append(f"{where} must be a mapping (key_file, reload_command, where the plan reads the secret)")
        return
    refuse_unknown_keys(tsig, TSIG_KEY_KEYS, where, problems)
    dns = plan.get("dns") or {}
    if dns.get("provider") != "rfc2136" or not dns.get("tsig_key_name"):
        problems.append(f"{where} needs dr_plan.dns with provider rfc2136 and tsig_key_name: it rotates that key")
    if not tsig.get("key_file"):
        problems.append(f"{where} has no key_file (the file with the key statement the DNS server includes)")
    command = tsig.get("reload_command")
    if command is not None and (not isinstance(command, list) or not command
                                or not all(isinstance(part, str) for part in command)):
        problems.append(f"{where}.reload_command must be a list of strings (the program and its arguments), "
                        "for example [rndc, reload]")
    _check_publish(where, tsig, problems)
