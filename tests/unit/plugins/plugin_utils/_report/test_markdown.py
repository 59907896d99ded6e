# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report as Markdown: every section, and exactly the stored renderings."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.plugin_utils._report.html_page import render_html
from ansible_collections.resilience.dr.plugins.plugin_utils._report.markdown import render_markdown
from ansible_collections.resilience.dr.plugins.plugin_utils._report.timeline import replay
from ansible_collections.resilience.dr.tests.unit.plugins.plugin_utils._report.helpers import FIXTURES, fixture, report_of, CHECK_MODE_RUN


def test_markdown_lists_components_misses_and_the_timeline():
    text = render_markdown(report_of("level3", fail_on_target_miss=True))
    assert "Achieved RTO: **8m 00s**" in text and "Achieved RPO: **20m 00s**" in text
    assert "orders-db: RPO 20m 00s exceeds the target 15m" in text
    assert "fail_on_target_miss is set" in text
    assert "| orders-db | 20261123T094000Z-new222 |" in text
    assert "Skip the Redis restore" not in render_markdown(report_of("level1"))  # skipped tasks stay out


@pytest.mark.parametrize("name", ["level1", "level3", "everything", "check_mode"])
def test_markdown_is_rendered_exactly_as_the_stored_reports(name):
    events = CHECK_MODE_RUN if name == "check_mode" else fixture(name)["events"]
    report = replay(events).report(fail_on_target_miss=True)
    assert render_markdown(report) == (FIXTURES / f"report_{name}.md").read_text()
    assert render_html(report) == (FIXTURES / f"report_{name}.html").read_text()
