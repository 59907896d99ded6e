# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which backups a retention policy keeps (grandfather-father-son).

A pure function of the backups and the policy, so it can be property-tested.
Rules, newest first, as restic and borg count them:

- keep_last N: the N newest backups;
- keep_daily / keep_weekly / keep_monthly N: the newest backup of each of the
  N newest days / ISO weeks / months that have a backup (UTC);
- keep_within D: every backup finished less than D ago.

Whatever the policy, these always stay: the newest backup, the newest verified
backup, pinned backups (retention_class: pinned), and every backup a kept one
depends on (a full backup under its incrementals).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_within: timedelta | None = None

    def is_empty(self) -> bool:
        return not (self.keep_last or self.keep_daily or self.keep_weekly or self.keep_monthly or self.keep_within)

    def check(self) -> None:
        for name in ("keep_last", "keep_daily", "keep_weekly", "keep_monthly"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"{name} must not be negative")
        if self.is_empty():
            raise ConfigurationError(
                "no retention rule is set (keep_last, keep_daily, keep_weekly, keep_monthly or keep_within); "
                "refusing to prune, which would keep only the newest backups"
            )


@dataclass(frozen=True)
class Candidate:
    """What retention needs to know about one complete backup."""

    backup_id: str
    finished_at: datetime
    verified: bool = False
    pinned: bool = False
    depends_on: str | None = None


def _bucket_rule(
    ordered: t.Sequence[Candidate], count: int, bucket: t.Callable[[datetime], t.Hashable], label: str,
    keep: t.Callable[[str, str], None],
) -> None:
    seen: list[t.Hashable] = []
    for candidate in ordered:
        if len(seen) >= count:
            return
        key = bucket(candidate.finished_at)
        if key not in seen:
            seen.append(key)
            keep(candidate.backup_id, f"{label} {key}")


def plan_retention(candidates: t.Iterable[Candidate], policy: RetentionPolicy, now: datetime) -> dict[str, list[str]]:
    """Map each kept backup id to the reasons it is kept; the others may go."""
    ordered = sorted(candidates, key=lambda item: (item.finished_at, item.backup_id), reverse=True)
    reasons: dict[str, list[str]] = {}

    def keep(backup_id: str, reason: str) -> None:
        reasons.setdefault(backup_id, []).append(reason)

    if ordered:
        keep(ordered[0].backup_id, "newest backup")
    newest_verified = next((item for item in ordered if item.verified), None)
    if newest_verified is not None:
        keep(newest_verified.backup_id, "newest verified backup")
    for item in ordered:
        if item.pinned:
            keep(item.backup_id, "pinned")
    for position, item in enumerate(ordered):
        if position < policy.keep_last:
            keep(item.backup_id, f"last {position + 1}")
        if policy.keep_within is not None and now - item.finished_at <= policy.keep_within:
            keep(item.backup_id, "within keep_within")
    _bucket_rule(ordered, policy.keep_daily, lambda moment: moment.strftime("%Y-%m-%d"), "daily", keep)
    _bucket_rule(
        ordered, policy.keep_weekly,
        lambda moment: "%04d-W%02d" % moment.isocalendar()[:2], "weekly", keep,
    )
    _bucket_rule(ordered, policy.keep_monthly, lambda moment: moment.strftime("%Y-%m"), "monthly", keep)

    by_id = {item.backup_id: item for item in ordered}
    pending = list(reasons)
    while pending:
        dependant = by_id.get(pending.pop())
        if dependant is None:
            continue
        parent = dependant.depends_on
        if parent and parent in by_id:
            if parent not in reasons:
                pending.append(parent)
            if f"needed by {dependant.backup_id}" not in reasons.get(parent, []):
                keep(parent, f"needed by {dependant.backup_id}")
    return reasons
