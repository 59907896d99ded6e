# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""python -m benchmarks: what a run records, saves and publishes (benchmarks/__main__.py)."""

from __future__ import annotations

import types
import typing as t

import pytest

from benchmarks import __main__ as runner
from benchmarks.common import Comparison


def bench_module(doc: str, comparisons: list[Comparison] | Exception) -> types.ModuleType:
    module = types.ModuleType("bench_fake", doc)

    def run() -> list[Comparison]:
        if isinstance(comparisons, Exception):
            raise comparisons
        return comparisons

    module.run = run  # type: ignore[attr-defined]
    return module


@pytest.fixture
def outputs(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[t.Any]]:
    """What the run saved and published, instead of writing benchmarks/results/ and docs/."""
    seen: dict[str, list[t.Any]] = {"saved": [], "published": []}
    monkeypatch.setattr(runner, "save", lambda run: seen["saved"].append(run) or "bench.json")
    monkeypatch.setattr(runner, "publish", lambda runs: seen["published"].extend(runs) or "benchmarks.md")
    monkeypatch.setattr(runner.machine, "describe", lambda: {"cores": 2})
    return seen


def use_modules(monkeypatch: pytest.MonkeyPatch, modules: dict[str, types.ModuleType]) -> None:
    monkeypatch.setattr(runner.importlib, "import_module", lambda name: modules[name])


BACKUP = Comparison(name="files_backup", ours_s=1.0, bare_s=2.0, size_bytes=1, target="fast", passed=True)


def test_a_run_records_each_family_with_its_docstring_machine_and_load(
        monkeypatch: pytest.MonkeyPatch, outputs: dict[str, list[t.Any]]) -> None:
    use_modules(monkeypatch, {"benchmarks.bench_files": bench_module("What files compares.", [BACKUP])})
    assert runner.main(["files"]) == 0
    [run] = outputs["saved"]
    assert outputs["published"] == [run]
    assert run["machine"] == {"cores": 2} and len(run["load_before"]) == 3 and len(run["load_after"]) == 3
    assert run["started"] <= run["finished"]
    family = run["families"]["files"]
    assert family["description"] == "What files compares."
    assert family["comparisons"][0]["ratio"] == 0.5 and family["comparisons"][0]["name"] == "files_backup"


def test_a_failing_family_keeps_the_families_finished_before_it(
        monkeypatch: pytest.MonkeyPatch, outputs: dict[str, list[t.Any]]) -> None:
    use_modules(monkeypatch, {"benchmarks.bench_copy": bench_module("Copy.", [BACKUP]),
                              "benchmarks.bench_files": bench_module("Files.", RuntimeError("tar exited with 2"))})
    with pytest.raises(RuntimeError, match="tar exited with 2"):
        runner.main(["copy", "files"])
    [run] = outputs["saved"]
    assert list(run["families"]) == ["copy"]
    assert outputs["published"] == [run]


def test_no_publish_saves_the_run_but_leaves_the_page(monkeypatch: pytest.MonkeyPatch,
                                                      outputs: dict[str, list[t.Any]]) -> None:
    use_modules(monkeypatch, {"benchmarks.bench_files": bench_module("Files.", [BACKUP])})
    assert runner.main(["--no-publish", "files"]) == 0
    assert len(outputs["saved"]) == 1 and outputs["published"] == []


def test_an_unknown_benchmark_is_refused_before_anything_runs(outputs: dict[str, list[t.Any]],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert runner.main(["nosuchthing"]) == 2
    assert "unknown benchmark(s) nosuchthing" in capsys.readouterr().err
    assert outputs == {"saved": [], "published": []}
