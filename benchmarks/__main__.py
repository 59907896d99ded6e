# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the benchmarks: python -m benchmarks [name ...] (make bench).

Each benchmarks/bench_<name>.py has run() -> list[Comparison]. Results are
printed side by side and saved to benchmarks/results/. The exit status is 0
even when a target is missed: targets are reported, not enforced, because a
shared or noisy machine makes timings vary.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from benchmarks.common import save


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = sorted(module.name[len("bench_"):] for module in pkgutil.iter_modules([str(here)]) if module.name.startswith("bench_"))
    wanted = argv or names
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(names)}", file=sys.stderr)
        return 2
    results = []
    for name in wanted:
        print(f"== {name}", flush=True)
        for comparison in importlib.import_module(f"benchmarks.bench_{name}").run():
            print(comparison.row(), flush=True)
            results.append(comparison)
    print(f"results saved to {save(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
