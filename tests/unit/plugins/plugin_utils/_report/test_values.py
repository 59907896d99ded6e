# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations for people and run ids."""

from __future__ import annotations

from datetime import datetime, timezone

from ansible_collections.resilience.dr.plugins.plugin_utils._report.values import format_seconds, run_id


def test_format_seconds_and_run_id():
    assert format_seconds(None) == "n/a"
    assert format_seconds(42.34) == "42.3s"
    assert format_seconds(725) == "12m 05s"
    assert format_seconds(3 * 3600 + 120) == "3h 02m"
    assert format_seconds(3 * 86400) == "3d 00h"
    moment = datetime(2026, 11, 23, 4, 0, 5, tzinfo=timezone.utc)
    assert run_id(moment, "/x/playbooks/level 2 app.yml") == "20261123T040005Z-level_2_app"
