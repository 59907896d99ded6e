# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report as one self-contained, escaped HTML page, exactly as the stored renderings."""

from __future__ import annotations

import re

import pytest

from ansible_collections.resilience.dr.plugins.plugin_utils._report.html_page import render_html
from ansible_collections.resilience.dr.plugins.plugin_utils._report.timeline import replay
from ansible_collections.resilience.dr.tests.unit.plugins.plugin_utils._report.helpers import FIXTURES, fixture, report_of, CHECK_MODE_RUN


def test_html_is_self_contained_and_escaped():
    page = render_html(report_of("level3"))
    assert page.startswith("<!DOCTYPE html>")
    assert "Probe the &lt;old&gt; primary" in page and "<old>" not in page
    assert "<script" not in page.lower()
    assert re.findall(r"""(?:src|href)\s*=""", page) == []
    assert re.findall(r"https?://(?!www\.w3\.org/2000/svg)", page) == []
    assert page.count("<svg") == 3  # the timeline and the RTO and RPO bars


@pytest.mark.parametrize("name", ["level1", "level3", "everything", "check_mode"])
def test_html_is_rendered_exactly_as_the_stored_reports(name):
    events = CHECK_MODE_RUN if name == "check_mode" else fixture(name)["events"]
    report = replay(events).report(fail_on_target_miss=True)
    assert render_html(report) == (FIXTURES / f"report_{name}.html").read_text()
