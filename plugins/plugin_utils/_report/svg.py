# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The charts of the HTML report: the run's tasks on a time line, and RTO or RPO against target per component."""

from __future__ import annotations

import html
import typing as t
from datetime import datetime, timedelta

from ansible_collections.resilience.dr.plugins.module_utils._timing import parse_time
from ansible_collections.resilience.dr.plugins.plugin_utils._report.values import as_text, format_seconds

STATUS_COLOURS = {"ok": "#2da44e", "changed": "#bf8700", "failed": "#cf222e", "ignored": "#8250df",
                  "unreachable": "#6e7781", "rescued": "#0969da"}


def element(name: str, attributes: dict[str, t.Any], content: str | None = None) -> str:
    """One element: its attributes in the order given (values already written as they must appear), and its
    content (already escaped), or none at all (a self-closing element)."""
    written = "".join(f' {key}="{value}"' for key, value in attributes.items())
    return f"<{name}{written}/>" if content is None else f"<{name}{written}>{content}</{name}>"


def _chart(width: int, height: int, label: str, parts: list[str]) -> str:
    return element("svg", {"xmlns": "http://www.w3.org/2000/svg", "width": width, "height": height, "role": "img",
                           "aria-label": label}, "".join(parts))


def _marker(x: float, height: int, colour: str, title: str) -> str:
    """A dashed vertical line across the time line at x, named by its title."""
    return element("line", {"x1": f"{x:.1f}", "y1": 14, "x2": f"{x:.1f}", "y2": height, "stroke": colour,
                            "stroke-dasharray": "4 3"}, element("title", {}, title))


def timeline_chart(report: dict[str, t.Any]) -> str:
    """Each task that ran as a bar coloured by its status, with the incident start and the RTO end marked."""
    tasks = [task for task in report["tasks"] if task["status"] != "skipped"]
    incident = parse_time(report["incident_start"])
    end = parse_time(report["finished"])
    times = [parse_time(task["start"]) for task in tasks] + [incident]
    origin = min(times)
    span = max((end - origin).total_seconds(), 1.0)
    label_width, width, row = 330, 860, 16
    height = 40 + row * len(tasks)

    def x(moment: datetime) -> float:
        return label_width + (moment - origin).total_seconds() / span * (width - label_width - 10)

    parts = []
    for step in range(5):
        tick = x(origin + timedelta(seconds=span * step / 4))
        parts.append(element("line", {"x1": f"{tick:.1f}", "y1": 14, "x2": f"{tick:.1f}", "y2": height, "stroke": "#eaeef2"}))
        parts.append(element("text", {"x": f"{tick:.1f}", "y": 11, "text-anchor": "end" if step == 4 else "middle"},
                             f"+{format_seconds(span * step / 4)}"))
    for number, task in enumerate(tasks):
        top = 20 + number * row
        start, finish = parse_time(task["start"]), parse_time(task["end"])
        label = task["name"] if len(task["name"]) <= 48 else task["name"][:47] + "…"
        title = (f'{html.escape(task["name"])} on {html.escape(task["host"])}: {task["status"]}, '
                 f'{format_seconds(task["duration_s"])}')
        parts.append(element("text", {"x": 4, "y": top + 11}, html.escape(label)))
        parts.append(element("rect", {
            "x": f"{x(start):.1f}", "y": top + 2, "width": f"{max(x(finish) - x(start), 2.0):.1f}", "height": row - 4,
            "fill": STATUS_COLOURS.get(task["status"], "#57606a"),
        }, element("title", {}, title)))
    parts.append(_marker(x(incident), height, "#cf222e", "incident start"))
    if report["rto_end"]:
        parts.append(_marker(x(parse_time(report["rto_end"])), height, "#0969da", "recovered (RTO end)"))
    return _chart(width, height, "Timeline of the run", parts)


def target_bars(report: dict[str, t.Any], key: str) -> str:
    """The achieved RTO or RPO (key rto or rpo) of each component measured, as a bar against its target."""
    entries = [entry for entry in report["components"] if entry[f"{key}_seconds"] is not None]
    if not entries:
        return f"<p>No {key.upper()} was measured in this run.</p>"
    scale_max = max(max(entry[f"{key}_seconds"], entry[f"{key}_target_seconds"] or 0) for entry in entries) or 1.0
    label_width, width, row = 160, 700, 26
    height = 10 + row * len(entries)
    parts = []
    for number, entry in enumerate(entries):
        top = 5 + number * row
        achieved, target = entry[f"{key}_seconds"], entry[f"{key}_target_seconds"]
        length = max(achieved / scale_max * (width - label_width - 120), 2.0)
        colour = "#cf222e" if entry[f"{key}_met"] is False else "#2da44e"
        text = format_seconds(achieved) + (f" / target {format_seconds(target)}" if target is not None else "")
        parts.append(element("text", {"x": 4, "y": top + 15}, html.escape(entry["component"])))
        parts.append(element("rect", {"x": label_width, "y": top + 4, "width": f"{length:.1f}", "height": 14, "fill": colour}))
        parts.append(element("text", {"x": f"{label_width + length + 6:.1f}", "y": top + 15}, html.escape(text)))
        if target is not None:
            target_x = label_width + target / scale_max * (width - label_width - 120)
            parts.append(element("line", {
                "x1": f"{target_x:.1f}", "y1": top, "x2": f"{target_x:.1f}", "y2": top + 22, "stroke": "#1d2733",
                "stroke-width": "2",
            }, element("title", {}, f'target {html.escape(as_text(entry[f"{key}_target"]))}')))
    return _chart(width, height, f"{key.upper()} achieved against target per component", parts)
