# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report of a DR run (controller side: the dr_report callback), in plain Python.

From the bottom up:

- values: plain values and durations for people;
- events: the component, DNS and fact events one task result carries;
- measure: the achieved RTO and RPO per component against the plan's targets;
- targets: the measurements so far handed to the recovery_targets task;
- timeline: what the callback feeds in, and report.json made of it;
- words, markdown, svg, html_page: report.md and the self-contained report.html;
- write: the run's report directory; upload: its copy to an S3 prefix.

Callers import each name from the module that owns it.
"""
