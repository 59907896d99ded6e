# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/benchmarks.md and its charts, made from saved runs (benchmarks/publish.py)."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest

from benchmarks import publish as publishing

MACHINE = {"cpu": "Example CPU", "cores": 2, "memory_gib": 8.0, "kernel": "Linux 6.1", "python": "3.11.7",
           "tools": {"pg_dump": "15.18", "zstd": "1.5.4", "tar": "1.34", "redis-server": "7.0.15"}}


def comparison(name: str, ours_s: float, bare_s: float, passed: bool, **details: t.Any) -> dict[str, t.Any]:
    return {"name": name, "ours_s": ours_s, "bare_s": bare_s, "size_bytes": 1 << 27, "target": "<= 1.2x the bare time",
            "passed": passed, "details": details, "ratio": ours_s / bare_s}


def run(started: str, families: dict[str, list[dict[str, t.Any]]], load_before: float = 0.1) -> dict[str, t.Any]:
    return {"started": started, "finished": started.replace(":00Z", ":30Z"), "machine": MACHINE,
            "load_before": [load_before, 0.2, 0.3], "load_after": [1.9, 1.0, 0.5],
            "families": {name: {"description": f"What {name} compares.", "comparisons": rows}
                         for name, rows in families.items()}}


FIRST = run("2026-11-20T08:00:00Z", {
    "files": [comparison("files_backup 128 MiB tree, zstd -1", 2.0, 4.0, True, ours_cpu_s=1.5, bare_cpu_s=2.25),
              comparison("files_restore 128 MiB tree (with verification)", 3.0, 2.0, False, bare="zstd -d | tar -x")],
    "copy": [comparison("copy 128 MiB backup local -> local", 1.1, 1.0, True),
             # An indented name is a variant of the comparison above it.
             comparison("  same, bare with the same checks", 1.1, 1.25, True)],
})
SECOND = run("2026-11-21T09:30:00Z", {
    "files": [comparison("files_backup 128 MiB tree, zstd -1", 1.0, 4.0, True)],
    # A family no code of the publisher names: families come from the results.
    "drill": [comparison("level 1 drill", 30.0, 40.0, True, ours={"keys_per_s": 151234, "server_cpu_us_per_key": 2.5},
                         checked_by=["S3 SHA-256 checksums", "row counts"])],
}, load_before=3.5)


def table_rows(page: str, family: str) -> list[list[str]]:
    """The cells of the table in a family's section, without its header."""
    section = page.split(f"\n## {family}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_page_has_a_row_per_comparison_with_its_ratio_goal_and_cpu_seconds(tmp_path: Path) -> None:
    page = publishing.publish([FIRST], docs=tmp_path).read_text()
    files = table_rows(page, "files")
    assert [row[:6] for row in files] == [
        ["files_backup 128 MiB tree, zstd -1", "2.00", "4.00", "0.50", "<= 1.2x the bare time", "yes"],
        ["files_restore 128 MiB tree (with verification)", "3.00", "2.00", "1.50", "<= 1.2x the bare time", "no"],
    ]
    assert files[0][6] == "size: 128 MiB; CPU seconds: ours 1.5, bare 2.25"
    assert files[1][6] == "size: 128 MiB; bare: zstd -d \\| tar -x"  # a pipe in a detail does not break the table
    assert [row[:4] for row in table_rows(page, "copy")] == [
        ["copy 128 MiB backup local -> local", "1.10", "1.00", "1.10"],
        ["\u21b3 same, bare with the same checks", "1.10", "1.25", "0.88"],
    ]
    assert "What files compares." in page and "ratio** is ours / bare time" in page


def test_page_states_the_machine_tools_and_load(tmp_path: Path) -> None:
    page = publishing.publish([SECOND], docs=tmp_path).read_text()
    for text in ("| CPU | Example CPU |", "| cores | 2 |", "| memory | 8.0 GiB |", "| kernel | Linux 6.1 |",
                 "| Python | 3.11.7 |", "| pg_dump | 15.18 |", "| zstd | 1.5.4 |", "| tar | 1.34 |",
                 "| redis-server | 7.0.15 |", "| 2026-11-21 09:30\u201309:30 UTC | drill, files |",
                 "3.50, 0.20, 0.30", "1.90, 1.00, 0.50"):
        assert text in page, text
    assert "busy: a 1-minute load of 3.50 on 2 cores" in page
    assert table_rows(page, "drill")[0][6] == ("size: 128 MiB; ours: keys_per_s 151234, server_cpu_us_per_key 2.5; "
                                               "checked_by: S3 SHA-256 checksums, row counts")


def test_quiet_machine_is_not_called_busy(tmp_path: Path) -> None:
    page = publishing.publish([FIRST], docs=tmp_path).read_text()
    assert "quiet: a 1-minute load of 0.10 on 2 cores" in page and "busy:" not in page


def test_a_family_not_run_keeps_its_last_numbers_and_their_date(tmp_path: Path) -> None:
    publishing.publish([FIRST], docs=tmp_path)
    page = publishing.publish([SECOND], docs=tmp_path).read_text()
    assert [row[:4] for row in table_rows(page, "files")] == [["files_backup 128 MiB tree, zstd -1", "1.00", "4.00", "0.25"]]
    assert [row[0] for row in table_rows(page, "copy")] == [
        "copy 128 MiB backup local -> local", "\u21b3 same, bare with the same checks"]
    copy_section = page.split("\n## copy\n", 1)[1]
    assert copy_section.lstrip().startswith("Measured 2026-11-20 08:00 UTC")
    assert page.split("\n## files\n", 1)[1].lstrip().startswith("Measured 2026-11-21 09:30 UTC")
    summary = page.split("\n## Summary\n", 1)[1].split("\n## ", 1)[0]
    assert "| [copy](#copy) | 2026-11-20 08:00 UTC | 2 | 2 of 2 |" in summary
    assert "| [drill](#drill) | 2026-11-21 09:30 UTC | 1 | 1 of 1 |" in summary
    state = json.loads((tmp_path / "benchmarks" / "results.json").read_text())
    assert sorted(state["families"]) == ["copy", "drill", "files"]


def test_a_chart_per_family_is_written_small_and_referenced(tmp_path: Path) -> None:
    page = publishing.publish([FIRST, SECOND], docs=tmp_path).read_text()
    for family in ("copy", "drill", "files"):
        chart = tmp_path / "benchmarks" / f"{family}.png"
        data = chart.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), family
        assert 1000 < len(data) < 60 * 1024, (family, len(data))
        assert f"](benchmarks/{family}.png)" in page


def test_bare_time_of_zero_gives_no_ratio_instead_of_failing(tmp_path: Path) -> None:
    broken = run("2026-11-22T10:00:00Z", {"files": [comparison("instant", 1.0, 1.0, False)]})
    broken["families"]["files"]["comparisons"][0]["bare_s"] = 0.0
    page = publishing.publish([broken], docs=tmp_path).read_text()
    assert table_rows(page, "files")[0][3] == "inf"
    assert (tmp_path / "benchmarks" / "files.png").stat().st_size > 0


def test_publishing_refuses_a_file_that_is_not_a_saved_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "bench-old.json"
    old.write_text(json.dumps([comparison("x", 1.0, 1.0, True)]))
    assert publishing.main([str(old)]) == 2
    assert "not a run saved by python -m benchmarks" in capsys.readouterr().err


def test_families_never_measured_are_named_with_the_command_that_measures_them(tmp_path: Path) -> None:
    page = publishing.publish([FIRST], docs=tmp_path, families=["copy", "files", "postgresql", "redis"]).read_text()
    assert 'Not measured yet: postgresql, redis (`make bench BENCH_ARGS="postgresql redis"`).' in page
    assert "Not measured yet" not in publishing.publish([], docs=tmp_path, families=["copy", "files"]).read_text()


def test_the_families_are_the_benchmark_files() -> None:
    assert {"copy", "files", "repository"} <= set(publishing.benchmark_families())
