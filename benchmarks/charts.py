# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The chart of one benchmark family: ours and bare as paired horizontal bars, the ratio beside each pair.

Drawn with matplotlib's Agg backend (no screen needed) as a small PNG for
docs/benchmarks/; the PNG carries no date, so drawing the same numbers again
gives the same file.
"""

from __future__ import annotations

import io
import math
import textwrap
import typing as t

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=wrong-import-position

from benchmarks.publish import display_name  # noqa: E402  pylint: disable=wrong-import-position

OURS_COLOUR = "#1f6fb4"
BARE_COLOUR = "#a0a0a0"
DPI = 100
LABEL_WIDTH = 34  # characters per line of a comparison's name on the axis


def draw(family: str, comparisons: list[dict[str, t.Any]], ratios: list[float]) -> bytes:
    """PNG bytes: for each comparison, ours above bare in seconds, labelled with the time ratio ours / bare."""
    count = len(comparisons)
    figure, axes = plt.subplots(figsize=(8, 1.2 + 0.75 * max(count, 1)), dpi=DPI)
    try:
        positions = list(range(count))
        bar_height = 0.38
        ours = [item["ours_s"] for item in comparisons]
        bare = [item["bare_s"] for item in comparisons]
        axes.barh([position - bar_height / 2 for position in positions], ours, height=bar_height, color=OURS_COLOUR,
                  label="ours")
        axes.barh([position + bar_height / 2 for position in positions], bare, height=bar_height, color=BARE_COLOUR,
                  label="bare")
        longest = max([*ours, *bare, 0.0]) or 1.0
        for position, ours_s, bare_s, value in zip(positions, ours, bare, ratios):
            text = "ratio –" if math.isinf(value) else f"ratio {value:.2f}"
            axes.text(max(ours_s, bare_s) + longest * 0.01, position, text, va="center", fontsize=9)
        axes.set_yticks(positions)
        axes.set_yticklabels([textwrap.fill(display_name(item["name"]), LABEL_WIDTH, break_on_hyphens=False)
                              for item in comparisons], fontsize=8)
        axes.invert_yaxis()  # the first comparison on top, as in the table
        axes.set_xlim(0, longest * 1.18)  # room for the ratio labels
        axes.set_xlabel("seconds (shorter is faster)")
        axes.set_title(f"{family}: ours against the bare tool", fontsize=10, loc="left")
        # Above the bars, right of the title: never over a bar or a ratio.
        axes.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=8, frameon=False)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        output = io.BytesIO()
        figure.savefig(output, format="png", dpi=DPI, metadata={"Software": None})
        return output.getvalue()
    finally:
        plt.close(figure)
