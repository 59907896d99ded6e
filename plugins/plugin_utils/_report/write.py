# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing a run's report: report.json, report.md and report.html in a private directory of the run.
"""

from __future__ import annotations

import json
import os
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._atomic import write_private
from ansible_collections.resilience.dr.plugins.plugin_utils._report.html_page import render_html
from ansible_collections.resilience.dr.plugins.plugin_utils._report.markdown import render_markdown


def write_report(report: dict[str, t.Any], directory: str) -> str:
    """Write report.json, report.md and report.html into <directory>/<run id>/ (dirs 0700, files 0600)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    base = os.path.join(directory, report["run_id"])
    target, suffix = base, 1
    while True:
        try:
            os.mkdir(target, 0o700)
            break
        except FileExistsError:
            suffix += 1
            target = f"{base}-{suffix}"
    if target != base:
        report["run_id"] = os.path.basename(target)
    write_private(os.path.join(target, "report.json"), json.dumps(report, indent=2, sort_keys=False) + "\n")
    write_private(os.path.join(target, "report.md"), render_markdown(report))
    write_private(os.path.join(target, "report.html"), render_html(report))
    return target
