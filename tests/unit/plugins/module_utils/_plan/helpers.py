# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The example plan every test of the plan starts from."""

from __future__ import annotations

import copy
import json
from pathlib import Path

PLAN = json.loads((Path(__file__).parents[1] / "fixtures" / "plan_shopfront.json").read_text())


def plan(**changes):
    copied = copy.deepcopy(PLAN)
    copied.update(changes)
    return copied
