# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the benchmarks: python -m benchmarks [--no-publish] [name ...] (make bench).

Each benchmarks/bench_<name>.py has run() -> list[Comparison]. Results are
printed side by side and saved to benchmarks/results/ with the machine and
its load; then docs/benchmarks.md and its charts are written again
(benchmarks/publish.py), keeping the last numbers of the families not run.
The exit status is 0 even when a target is missed: targets are reported, not
enforced, because a shared or noisy machine makes timings vary.
"""

from __future__ import annotations

import importlib
import inspect
import sys

from benchmarks import machine
from benchmarks.common import as_record, save
from benchmarks.publish import benchmark_families, publish


def main(argv: list[str]) -> int:
    names = benchmark_families()
    publishing = "--no-publish" not in argv
    wanted = [argument for argument in argv if argument != "--no-publish"] or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(names)}", file=sys.stderr)
        return 2
    run = {"started": machine.utc_now(), "load_before": machine.load_average(), "machine": machine.describe(),
           "families": {}}
    try:
        for name in wanted:
            print(f"== {name}", flush=True)
            module = importlib.import_module(f"benchmarks.bench_{name}")
            comparisons = []
            for comparison in module.run():
                print(comparison.row(), flush=True)
                comparisons.append(as_record(comparison))
            # What the family compares, for the published page: the benchmark's own description.
            run["families"][name] = {"description": inspect.getdoc(module) or "", "comparisons": comparisons}
    finally:
        # A family that failed keeps its last published numbers; those that finished before it are not lost.
        if run["families"]:
            run.update(finished=machine.utc_now(), load_after=machine.load_average())
            print(f"results saved to {save(run)}")
            if publishing:
                print(f"published {publish([run])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
