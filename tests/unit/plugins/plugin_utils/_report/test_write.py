# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report's files: private, and a directory of its own for each run."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from ansible_collections.resilience.dr.plugins.plugin_utils._report.write import write_report
from ansible_collections.resilience.dr.tests.unit.plugins.plugin_utils._report.helpers import report_of


def test_files_are_private_and_a_second_run_in_the_same_second_gets_its_own_directory(tmp_path):
    first = write_report(report_of("level1"), str(tmp_path / "reports"))
    second_report = report_of("level1")
    second = write_report(second_report, str(tmp_path / "reports"))
    assert os.path.basename(first) == "20261123T042000Z-level1_component"
    assert os.path.basename(second) == "20261123T042000Z-level1_component-2" == second_report["run_id"]
    assert stat.S_IMODE(os.stat(tmp_path / "reports").st_mode) == 0o700
    for directory in (first, second):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        assert sorted(os.listdir(directory)) == ["report.html", "report.json", "report.md"]
        for name in os.listdir(directory):
            assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o600
    assert json.loads(Path(second, "report.json").read_text())["run_id"].endswith("-2")
