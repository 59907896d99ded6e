# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention: examples, then properties that must hold for every history."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._repository.retention import Candidate, RetentionPolicy, plan_retention
from ansible_collections.resilience.dr.plugins.module_utils._timing import parse_duration

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def daily(days: int, verified_every: int = 0) -> list[Candidate]:
    return [
        Candidate(f"b{day:03d}", NOW - timedelta(days=day, hours=1), verified=bool(verified_every) and day % verified_every == 0)
        for day in range(days)
    ]


def test_keep_last_keeps_the_newest_and_removes_the_rest():
    kept = plan_retention(daily(10), RetentionPolicy(keep_last=3), NOW)
    assert sorted(kept) == ["b000", "b001", "b002"]


def test_newest_verified_backup_survives_any_policy():
    history = daily(10, verified_every=0)
    history[7] = Candidate("b007", history[7].finished_at, verified=True)
    kept = plan_retention(history, RetentionPolicy(keep_last=1), NOW)
    assert kept["b007"] == ["newest verified backup"]


def test_a_full_backup_stays_while_an_incremental_needs_it():
    history = daily(5)
    history[0] = Candidate("b000", history[0].finished_at, depends_on="b001")
    history[1] = Candidate("b001", history[1].finished_at, depends_on="b004")
    kept = plan_retention(history, RetentionPolicy(keep_last=1), NOW)
    assert set(kept) == {"b000", "b001", "b004"}
    assert kept["b004"] == ["needed by b001"]


def test_monthly_keeps_the_newest_backup_of_each_month():
    history = [Candidate(f"m{n}", datetime(2026, month, day, tzinfo=timezone.utc))
               for n, (month, day) in enumerate([(11, 20), (11, 2), (10, 30), (10, 1), (9, 15)])]
    kept = plan_retention(history, RetentionPolicy(keep_monthly=2), NOW)
    assert set(kept) == {"m0", "m2"}
    assert kept["m2"] == ["monthly 2026-10"]


def test_empty_policy_is_refused():
    with pytest.raises(ConfigurationError, match="no retention rule is set"):
        RetentionPolicy().check()


@pytest.mark.parametrize(("text", "seconds"), [("36h", 129600), ("7d", 604800), ("1w2d", 777600), ("90", 90), (90, 90)])
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_bad_duration_shows_the_format():
    with pytest.raises(ConfigurationError, match="keep_within 'a week' is not a duration; write it like 90s, 15m, 36h, 7d or 2w3d"):
        parse_duration("a week", "keep_within")


# ----------------------------------------------------------------------------- properties


@st.composite
def histories(draw):
    count = draw(st.integers(min_value=0, max_value=40))
    offsets = draw(st.lists(st.integers(min_value=0, max_value=400 * 24), min_size=count, max_size=count, unique=True))
    candidates = []
    for position, hours in enumerate(sorted(offsets)):
        depends_on = None
        if position + 1 < count and draw(st.booleans()) and draw(st.booleans()):
            depends_on = f"id{position + 1:03d}"  # an older backup
        candidates.append(Candidate(
            backup_id=f"id{position:03d}", finished_at=NOW - timedelta(hours=hours),
            verified=draw(st.booleans()), pinned=draw(st.integers(0, 9)) == 0, depends_on=depends_on,
        ))
    return candidates


policies = st.builds(
    RetentionPolicy,
    keep_last=st.integers(0, 5), keep_daily=st.integers(0, 10), keep_weekly=st.integers(0, 6),
    keep_monthly=st.integers(0, 13),
    keep_within=st.one_of(st.none(), st.integers(1, 60).map(lambda days: timedelta(days=days))),
)


def oracle(candidates: list[Candidate], policy: RetentionPolicy) -> set[str]:
    """GFS written a second way: group by period, rank periods, take the newest of each."""
    newest_first = sorted(candidates, key=lambda item: (item.finished_at, item.backup_id), reverse=True)
    keep = {item.backup_id for item in newest_first[: policy.keep_last]}
    if policy.keep_within is not None:
        keep |= {item.backup_id for item in candidates if NOW - item.finished_at <= policy.keep_within}
    periods = [
        (policy.keep_daily, lambda moment: moment.date()),
        (policy.keep_weekly, lambda moment: tuple(moment.isocalendar()[:2])),
        (policy.keep_monthly, lambda moment: (moment.year, moment.month)),
    ]
    for count, period in periods:
        grouped = itertools.groupby(sorted(newest_first, key=lambda item: period(item.finished_at), reverse=True),
                                    key=lambda item: period(item.finished_at))
        for _period, members in itertools.islice(grouped, count):
            keep.add(max(members, key=lambda item: (item.finished_at, item.backup_id)).backup_id)
    if newest_first:
        keep.add(newest_first[0].backup_id)
    keep |= {item.backup_id for item in newest_first[:] if item.pinned}
    verified = [item for item in newest_first if item.verified]
    if verified:
        keep.add(verified[0].backup_id)
    by_id = {item.backup_id: item for item in candidates}
    changed = True
    while changed:
        needed = {by_id[backup_id].depends_on for backup_id in keep if by_id[backup_id].depends_on in by_id}
        changed = not needed <= keep
        keep |= needed
    return keep


@settings(max_examples=300, deadline=None)
@given(histories(), policies)
def test_kept_set_follows_the_gfs_rules(candidates, policy):
    kept = plan_retention(candidates, policy, NOW)
    assert set(kept) == oracle(candidates, policy)


@settings(max_examples=300, deadline=None)
@given(histories(), policies)
def test_newest_verified_newest_pinned_and_dependencies_always_survive(candidates, policy):
    kept = plan_retention(candidates, policy, NOW)
    verified = [item for item in candidates if item.verified]
    if verified:
        assert max(verified, key=lambda item: (item.finished_at, item.backup_id)).backup_id in kept
    if candidates:
        assert max(candidates, key=lambda item: (item.finished_at, item.backup_id)).backup_id in kept
    ids = {item.backup_id for item in candidates}
    for item in candidates:
        if item.pinned:
            assert item.backup_id in kept
        if item.backup_id in kept and item.depends_on in ids:
            assert item.depends_on in kept


@settings(max_examples=200, deadline=None)
@given(histories(), policies, st.sampled_from(["keep_last", "keep_daily", "keep_weekly", "keep_monthly"]))
def test_a_more_generous_policy_never_removes_more(candidates, policy, rule):
    generous = RetentionPolicy(**{**policy.__dict__, rule: getattr(policy, rule) + 1})
    assert set(plan_retention(candidates, policy, NOW)) <= set(plan_retention(candidates, generous, NOW))
