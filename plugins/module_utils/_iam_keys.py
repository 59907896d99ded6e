# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which replaced IAM access keys a security incident run deletes: inactive ones past their grace period.

IAM does not record when a key was deactivated. A key this collection
replaces is deactivated when its replacement is created, so a key's
deactivation time is the creation time of the oldest key created after it
(its own creation time when there is none: a key someone else deactivated).
The clock is an argument: nothing here reads today's date.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._timing import parse_duration

# IAM's limit of access keys per user.
KEYS_PER_USER = 2


def _when(value: t.Any, what: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(f"{what} {value!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def expired_keys(keys: t.Sequence[t.Mapping[str, t.Any]], grace: t.Any, now: t.Any) -> list[str]:
    """The ids of inactive keys (amazon.aws.iam_access_key_info's access_keys) deactivated at least grace before now."""
    period = parse_duration(grace, "iam_key_grace") or timedelta(0)
    moment = _when(now, "now")
    created = sorted((_when(key["create_date"], f"create_date of {key['access_key_id']}"), key) for key in keys)
    expired = []
    for position, (born, key) in enumerate(created):
        if key.get("status") != "Inactive":
            continue
        later = [when for when, _other in created[position + 1:] if when >= born]
        deactivated = later[0] if later else born
        if moment - deactivated >= period:
            expired.append(str(key["access_key_id"]))
    return expired


def room_for_new_key(keys: t.Sequence[t.Mapping[str, t.Any]], deleted: t.Collection[str], user: str) -> list[str]:
    """The ids of inactive keys to delete so that IAM lets the user have one more key (oldest first).

    Raises when the user has KEYS_PER_USER active keys: one must go by hand (which one is the operator's call).
    """
    left = sorted((key for key in keys if key["access_key_id"] not in deleted),
                  key=lambda key: _when(key["create_date"], "create_date"))
    if len(left) < KEYS_PER_USER:
        return []
    inactive = [str(key["access_key_id"]) for key in left if key.get("status") == "Inactive"]
    if len(left) - len(inactive) >= KEYS_PER_USER:
        raise ConfigurationError(
            f"IAM user {user} has {len(left)} active access keys, the most IAM allows, so no new key can be created; "
            "deactivate and delete the one the application does not use (aws iam delete-access-key) and run again"
        )
    return inactive[:len(left) - KEYS_PER_USER + 1]
