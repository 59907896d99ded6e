# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The safety gates of a failover: the record still holds what was expected, the new target is healthy, its data is recent enough.

A gate passes, fails, is skipped (skip_gates, with a warning), overridden
(force) or not needed (nothing would change); a failed gate refuses the
change before anything is written.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from ansible_collections.resilience.dr.plugins.module_utils._dns.plan import GATES, HealthCheck, Plan, Request
from ansible_collections.resilience.dr.plugins.module_utils._dns.records import describe, display_name, summary
from ansible_collections.resilience.dr.plugins.module_utils._errors import GateRefused


@dataclass
class GateResult:
    name: str
    # passed | failed | skipped (named in skip_gates) | overridden (force) | not_configured | not_needed
    status: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"status": self.status, "detail": self.detail}


HealthProbe = t.Callable[[HealthCheck], tuple[bool, str]]


def expect_current_gate(plan: Plan, request: Request) -> GateResult:
    expected = request.expect_current
    if expected is None:
        return GateResult("expect_current", "not_configured", "expect_current not given")
    holds = tuple(sorted(plan.current.targets())) if plan.current is not None else ()
    if holds == expected:
        return GateResult("expect_current", "passed", f"the record holds {describe(plan.current)} as expected")
    expected_text = ", ".join(display_name(value) for value in expected) or "nothing (no such record)"
    detail = f"the record holds {describe(plan.current)}, not the expected {expected_text}"
    if request.force:
        return GateResult("expect_current", "overridden", f"{detail}; force: true overrides this")
    return GateResult("expect_current", "failed", detail)


def rpo_gate(request: Request) -> GateResult:
    bound, rpo = request.max_rpo_seconds, request.rpo_seconds
    if bound is None:
        detail = "max_rpo_seconds not given"
        if rpo is not None:
            detail += f" (rpo_seconds {rpo:g} has no bound to be checked against)"
        if "rpo" in request.skip_gates:
            return GateResult("rpo", "skipped", f"skipped by skip_gates (nothing to check: {detail})")
        return GateResult("rpo", "not_configured", detail)
    if rpo is None:
        passed, detail = False, f"rpo_seconds is not given, so the age of the target's data is unknown (bound {bound:g}s)"
    elif rpo > bound:
        passed, detail = False, f"the target's data is {rpo:g}s old (rpo_seconds), more than max_rpo_seconds {bound:g}s"
    else:
        passed, detail = True, f"the target's data is {rpo:g}s old, within max_rpo_seconds {bound:g}s"
    return _decide("rpo", passed, detail, request)


def health_gate(request: Request, probe: HealthProbe) -> GateResult:
    check = request.health_check
    if check is None:
        # Request.from_params allows this only with skip_gates: [health].
        if "health" in request.skip_gates:
            return GateResult("health", "skipped", "skipped by skip_gates (no health_check given: nothing checked "
                                                   "that the new target answers)")
        return GateResult("health", "failed", "health_check not given: nothing checks that the new target answers")
    passed, detail = probe(check)
    return _decide("health", passed, f"{check.target()}: {detail}", request)


def _decide(name: str, passed: bool, detail: str, request: Request) -> GateResult:
    if name in request.skip_gates:
        outcome = "passed" if passed else "failed"
        return GateResult(name, "skipped", f"skipped by skip_gates (the check {outcome}: {detail})")
    return GateResult(name, "passed" if passed else "failed", detail)


def evaluate_gates(plan: Plan, request: Request, probe: HealthProbe) -> list[GateResult]:
    """Every gate's outcome; gates only matter when the record would change."""
    if not plan.changed:
        return [
            GateResult(name, "not_needed", "the record already holds the wanted record set")
            for name in ("expect_current", "health", "rpo")
        ]
    return [expect_current_gate(plan, request), health_gate(request, probe), rpo_gate(request)]


def skipped_gate_warnings(plan: Plan, gates: list[GateResult], check_mode: bool) -> list[str]:
    """One warning per gate skipped by skip_gates, for the operator and the incident report."""
    what = "would change" if check_mode else "changes"
    return [
        f"{display_name(plan.desired.name)} {plan.desired.type}: gate {gate.name} {gate.detail}; the failover "
        f"{what} the record without it"
        for gate in gates if gate.status == "skipped"
    ]


def refuse_failed_gates(plan: Plan, gates: list[GateResult]) -> None:
    failed = [gate for gate in gates if gate.status == "failed"]
    if not failed:
        return
    reasons = "; ".join(f"gate {gate.name} failed: {gate.detail}" for gate in failed)
    hints = []
    if any(gate.name == "expect_current" for gate in failed):
        hints.append("re-read the record and decide again (force: true overrides expect_current)")
    skippable = [gate.name for gate in failed if gate.name in GATES]
    if skippable:
        hints.append(f"fix the target, or skip deliberately with skip_gates: [{', '.join(skippable)}]")
    raise GateRefused(
        f"refusing to change {display_name(plan.desired.name)} {plan.desired.type} from {describe(plan.current)} "
        f"to {describe(plan.desired)}: {reasons}. Nothing was changed; {' or '.join(hints)}",
        gates={gate.name: gate.as_dict() for gate in gates},
        previous=summary(plan.current),
    )
