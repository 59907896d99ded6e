# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Publish benchmark results as docs/benchmarks.md with a chart per family.

A family is one benchmarks/bench_<name>.py. The page is made from
docs/benchmarks/results.json, which holds each family's latest run: a run of
some families replaces theirs and keeps the others' last numbers, each with
the time, machine and load of the run that measured it.

python -m benchmarks.publish [RUN.json ...] merges saved runs
(benchmarks/results/bench-*.json, oldest first) and writes the page again;
without arguments it only writes the page again from what is published.
"""

from __future__ import annotations

import json
import math
import os
import pkgutil
import sys
import tempfile
import typing as t
from pathlib import Path

from benchmarks.common import ROOT, MiB

DOCS = ROOT / "docs"
PAGE_NAME = "benchmarks.md"
CHARTS_DIR = "benchmarks"  # under docs/, beside the page
STATE_NAME = "results.json"  # in CHARTS_DIR
# A 1-minute load average at or above this share of the cores before a run means other work shared the CPU.
# Not lower: `make bench` starts the lab just before the run, which alone lifts the 1-minute average to about 1.
BUSY_LOAD_PER_CORE = 0.75

Record = dict[str, t.Any]


def benchmark_families() -> list[str]:
    """The families there are: one per benchmarks/bench_<name>.py."""
    here = Path(__file__).resolve().parent
    return sorted(module.name[len("bench_"):] for module in pkgutil.iter_modules([str(here)])
                  if module.name.startswith("bench_"))


def write_atomically(path: Path, data: bytes) -> None:
    """Write data to path through a temporary file in the same directory, so no half-written page is ever seen."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)  # published files are read by everyone; mkstemp creates them 0600
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def load_state(path: Path) -> Record:
    if not path.exists():
        return {"families": {}}
    state: Record = json.loads(path.read_text())
    state.setdefault("families", {})
    return state


def merge(state: Record, run: Record) -> Record:
    """The published state with the families of run replaced by run's results; other families are kept."""
    measured = {key: run[key] for key in ("started", "finished", "machine", "load_before", "load_after")}
    families = dict(state.get("families", {}))
    for name, family in run["families"].items():
        families[name] = {"run": measured, "description": family["description"], "comparisons": family["comparisons"]}
    return {"families": dict(sorted(families.items()))}


def display_name(name: str) -> str:
    """A comparison's name for a table or chart: an indented name (a variant of the row above) marked as one."""
    return f"\u21b3 {name.strip()}" if name[:1].isspace() else name.strip()


def ratio(comparison: Record) -> float:
    """Time ratio ours / bare, computed again rather than read (JSON has no infinity)."""
    bare = comparison["bare_s"]
    return comparison["ours_s"] / bare if bare else math.inf


def _number(value: t.Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _value(value: t.Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {_value(inner)}" for key, inner in value.items())
    if isinstance(value, list):
        return ", ".join(_value(item) for item in value)
    return _number(value)


def details_text(comparison: Record) -> str:
    """A comparison's details in one table cell: its size and CPU seconds first, then the rest as `key: value`."""
    details = comparison.get("details", {})
    parts = []
    if comparison.get("size_bytes"):
        parts.append(f"size: {comparison['size_bytes'] / MiB:.0f} MiB")
    if "ours_cpu_s" in details or "bare_cpu_s" in details:
        parts.append(f"CPU seconds: ours {_number(details.get('ours_cpu_s', '?'))}, "
                     f"bare {_number(details.get('bare_cpu_s', '?'))}")
    parts += [f"{key}: {_value(value)}" for key, value in details.items() if key not in ("ours_cpu_s", "bare_cpu_s")]
    return _cell("; ".join(parts))


def _when(timestamp: str) -> str:
    """2026-11-23T04:00:00Z as 2026-11-23 04:00 UTC."""
    return f"{timestamp[:10]} {timestamp[11:16]} UTC"


def _span(run: Record) -> str:
    """When a run started and finished: 2026-11-23 04:00–04:20 UTC."""
    started, finished = run["started"], run["finished"]
    end = finished[11:16] if finished[:10] == started[:10] else f"{finished[:10]} {finished[11:16]}"
    return f"{started[:10]} {started[11:16]}\u2013{end} UTC"


def _loads(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def load_verdict(run: Record) -> str:
    """Whether the machine was busy with other work when the run started, in words, with the numbers."""
    cores = run["machine"].get("cores") or 1
    before = run["load_before"][0]
    if before >= BUSY_LOAD_PER_CORE * cores:
        return (f"busy: a 1-minute load of {before:.2f} on {cores} cores before the run means other work shared "
                "the CPU; these timings are slower and noisier than on an idle machine")
    return f"quiet: a 1-minute load of {before:.2f} on {cores} cores before the run"


def _runs(state: Record) -> list[tuple[Record, list[str]]]:
    """Each distinct run in the state, oldest first, with the families it measured."""
    runs: dict[str, tuple[Record, list[str]]] = {}
    for name, family in state["families"].items():
        runs.setdefault(family["run"]["started"], (family["run"], []))[1].append(name)
    return [runs[started] for started in sorted(runs)]


def _machine_rows(machine: Record) -> list[str]:
    rows = [f"| CPU | {_cell(str(machine.get('cpu')))} |", f"| cores | {machine.get('cores')} |",
            f"| memory | {machine.get('memory_gib')} GiB |", f"| kernel | {_cell(str(machine.get('kernel')))} |",
            f"| Python | {machine.get('python')} |"]
    rows += [f"| {name} | {_cell(str(version))} |" for name, version in machine.get("tools", {}).items()]
    return rows


INTRODUCTION = """\
# Benchmarks

<!-- Written by `make bench` (benchmarks/publish.py) from docs/benchmarks/results.json; do not edit by hand. -->

Each benchmark measures this collection side by side with the bare tool
doing the same job, in the same run, on the same machine and data
(`benchmarks/bench_<family>.py`, run by `make bench`; see
[Development](development.md#benchmarks)).

How to read the tables: **ratio** is ours / bare time: below 1 is faster than
the bare tool, 1.5 takes half as long again. **Goal** is the target set for
the comparison and **met** whether this run reached it. Where a benchmark
records CPU seconds (user + system of the process and its children), they
are given in the details: on a busy machine they vary less than the wall
clock. Each family says when, on which machine and under what load it was
last measured; `make bench BENCH_ARGS="files"` measures one family again and
keeps the others' last numbers.
"""


def render(state: Record, charts: dict[str, str], families: t.Sequence[str] = ()) -> str:
    """The page: the runs and their machines, a summary, then per family its description, chart and table.

    charts maps a family to its chart's path relative to the page; families are those there are, to name the
    ones never measured."""
    lines = [INTRODUCTION, "## Runs", "",
             "| run | families | load average before (1, 5, 15 min) | after | machine |",
             "|---|---|---|---|---|"]
    runs = _runs(state)
    machines: list[Record] = []
    for run, names in runs:
        if run["machine"] not in machines:
            machines.append(run["machine"])
        lines.append(f"| {_span(run)} | {', '.join(names)} | {_loads(run['load_before'])} | "
                     f"{_loads(run['load_after'])} | {load_verdict(run)} (machine {machines.index(run['machine']) + 1}) |")
    for number, machine in enumerate(machines, start=1):
        lines += ["", f"## Machine {number}", "", "| | |", "|---|---|", *_machine_rows(machine)]
    lines += ["", "## Summary", "", "| family | measured | comparisons | goals met |", "|---|---|---|---|"]
    for name, family in state["families"].items():
        comparisons = family["comparisons"]
        met = sum(1 for comparison in comparisons if comparison["passed"])
        lines.append(f"| [{name}](#{name}) | {_when(family['run']['started'])} | {len(comparisons)} | "
                     f"{met} of {len(comparisons)} |")
    unmeasured = [name for name in families if name not in state["families"]]
    if unmeasured:
        lines += ["", f"Not measured yet: {', '.join(unmeasured)} "
                      f"(`make bench BENCH_ARGS=\"{' '.join(unmeasured)}\"`)."]
    for name, family in state["families"].items():
        run = family["run"]
        lines += ["", f"## {name}", "",
                  f"Measured {_when(run['started'])} (load average {_loads(run['load_before'])} before, "
                  f"{_loads(run['load_after'])} after; machine {machines.index(run['machine']) + 1}).", "",
                  family["description"].strip(), ""]
        if name in charts:
            lines += [f"![{name}: ours against bare, seconds]({charts[name]})", ""]
        lines += ["| comparison | ours (s) | bare (s) | ratio | goal | met | details |",
                  "|---|---:|---:|---:|---|---|---|"]
        for comparison in family["comparisons"]:
            value = ratio(comparison)
            lines.append(
                f"| {_cell(display_name(comparison['name']))} | {comparison['ours_s']:.2f} | {comparison['bare_s']:.2f} | "
                f"{value:.2f} | {_cell(comparison['target'])} | {'yes' if comparison['passed'] else 'no'} | "
                f"{details_text(comparison)} |")
    return "\n".join(lines) + "\n"


def publish(runs: list[Record], docs: Path = DOCS, families: t.Sequence[str] | None = None) -> Path:
    """Merge runs (oldest first) into the published results, draw the charts and write the page; returns it.

    families: the families there are (default: the bench_<name>.py files), to name those never measured."""
    from benchmarks.charts import draw  # pylint: disable=import-outside-toplevel  # matplotlib only when drawing

    state_path = docs / CHARTS_DIR / STATE_NAME
    state = load_state(state_path)
    for run in runs:
        state = merge(state, run)
    charts = {}
    for name, family in state["families"].items():
        chart = docs / CHARTS_DIR / f"{name}.png"
        write_atomically(chart, draw(name, family["comparisons"], [ratio(item) for item in family["comparisons"]]))
        charts[name] = f"{CHARTS_DIR}/{chart.name}"
    write_atomically(state_path, (json.dumps(state, indent=2) + "\n").encode())
    page = docs / PAGE_NAME
    write_atomically(page, render(state, charts, benchmark_families() if families is None else families).encode())
    return page


def main(argv: list[str]) -> int:
    runs = []
    for argument in argv:
        run = json.loads(Path(argument).read_text())
        if not isinstance(run, dict) or "families" not in run:
            print(f"{argument}: not a run saved by python -m benchmarks (no families in it)", file=sys.stderr)
            return 2
        runs.append(run)
    print(f"published {publish(runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
