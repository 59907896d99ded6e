# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ecs_redeploy's plan and wait with a scripted ECS client: the deployments as real ECS reports them (moto
never starts tasks, so the steady state is judged here)."""

from __future__ import annotations

import copy
import typing as t

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._ecs import service as ecs_service
from ansible_collections.resilience.dr.plugins.module_utils._ecs.service import Ecs, RedeployRequest, run, steady
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError, WaitTimeout

OLD = "arn:aws:ecs:us-west-2:111122223333:task-definition/api:7"
NEW = "arn:aws:ecs:us-west-2:111122223333:task-definition/api:8"


def deployment(arn: str, status: str, running: int, desired: int = 2, rollout: str | None = "COMPLETED") -> dict[str, t.Any]:
    return {"taskDefinition": arn, "status": status, "runningCount": running, "desiredCount": desired,
            "pendingCount": desired - running, "rolloutState": rollout, "rolloutStateReason": "circuit breaker"}


class FakeEcs:
    """describe_services answers the scripted states in turn (the last one for ever)."""

    def __init__(self, states: list[list[dict[str, t.Any]]]) -> None:
        self.states = states
        self.task_definition = "OLD"
        self.calls: list[str] = []
        self.definitions = {OLD: {"taskDefinitionArn": OLD, "family": "api", "revision": 7, "containerDefinitions": [
            {"name": "api", "environment": [{"name": "DATABASE_HOST", "value": "old.east"}]}]}}

    def describe_services(self, aws_retry: bool, cluster: str, services: list[str]) -> dict[str, t.Any]:
        deployments = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"services": [{"status": "ACTIVE", "serviceName": services[0], "desiredCount": 2, "runningCount": 2,
                              "taskDefinition": OLD if self.task_definition == "OLD" else NEW,
                              "deployments": copy.deepcopy(deployments), "events": [{"message": "task failed to start"}]}]}

    def describe_task_definition(self, aws_retry: bool, taskDefinition: str, include: list[str]) -> dict[str, t.Any]:
        return {"taskDefinition": copy.deepcopy(self.definitions[taskDefinition]), "tags": [{"key": "team", "value": "shop"}]}

    def register_task_definition(self, aws_retry: bool, **register: t.Any) -> dict[str, t.Any]:
        self.calls.append("register")
        assert register["tags"] == [{"key": "team", "value": "shop"}]
        self.definitions[NEW] = dict(register, taskDefinitionArn=NEW, revision=8)
        return {"taskDefinition": self.definitions[NEW]}

    def update_service(self, aws_retry: bool, cluster: str, service: str, taskDefinition: str) -> dict[str, t.Any]:
        self.calls.append(f"update {taskDefinition}")
        self.task_definition = "NEW"
        return {"service": self.describe_services(True, cluster, [service])["services"][0]}


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    clock = {"now": 0.0}

    def sleep(seconds: float) -> None:
        clock["now"] += seconds

    monkeypatch.setattr(ecs_service, "wait_for", _wait_for_with(clock, sleep))


def _wait_for_with(clock: dict[str, float], sleep: t.Callable[[float], None]) -> t.Callable[..., t.Any]:
    def wait_for(probe: t.Callable[[], t.Any], *, timeout: float, what: str, interval: float, max_interval: float) -> t.Any:
        while True:
            outcome = probe()
            if outcome is not None:
                return outcome
            if clock["now"] >= timeout:
                raise WaitTimeout(f"{what}: not reached")
            sleep(interval)
    return wait_for


def request(**overrides: t.Any) -> RedeployRequest:
    return RedeployRequest(**{"cluster": "shop", "service": "api", "environment": {"DATABASE_HOST": "new.west"},
                              "wait_timeout": 60, **overrides})


def test_the_service_is_moved_to_a_new_revision_and_waited_for_until_steady():
    fake = FakeEcs([
        [deployment(OLD, "PRIMARY", 2)],
        [deployment(NEW, "PRIMARY", 0, rollout="IN_PROGRESS"), deployment(OLD, "ACTIVE", 2)],
        [deployment(NEW, "PRIMARY", 2, rollout="IN_PROGRESS"), deployment(OLD, "ACTIVE", 0)],
        [deployment(NEW, "PRIMARY", 2)],
    ])
    result = run(Ecs(fake, "us-west-2"), request(), check_mode=False, diff=True)
    assert fake.calls == ["register", f"update {NEW}"]
    assert result["changed"] and result["steady"] and result["task_definition_arn"] == NEW
    assert result["previous_task_definition_arn"] == OLD and result["revision"] == 8
    assert [step["state"].split(";")[0] for step in result["progress"]][-1] == "PRIMARY api:8 running 2/2 pending 0 COMPLETED"
    assert len(result["progress"]) >= 2
    assert result["diff"]["after"]["variables"] == {"api": {"DATABASE_HOST": "new.west"}}


def test_a_service_on_a_revision_with_the_values_is_left_alone():
    fake = FakeEcs([[deployment(OLD, "PRIMARY", 2)]])
    result = run(Ecs(fake, "us-west-2"), request(environment={"DATABASE_HOST": "old.east"}), check_mode=False, diff=False)
    assert fake.calls == [] and not result["changed"] and result["action"] == "none" and result["steady"]


def test_check_mode_registers_and_updates_nothing():
    fake = FakeEcs([[deployment(OLD, "PRIMARY", 2)]])
    result = run(Ecs(fake, "us-west-2"), request(), check_mode=True, diff=False)
    assert fake.calls == [] and result["changed"] and result["task_definition_arn"] is None
    assert result["changes"][0]["after"] == "new.west"


def test_a_failed_deployment_ends_the_wait_with_the_services_events():
    fake = FakeEcs([[deployment(NEW, "PRIMARY", 0, rollout="FAILED"), deployment(OLD, "ACTIVE", 2)]])
    with pytest.raises(DrError) as raised:
        run(Ecs(fake, "us-west-2"), request(), check_mode=False, diff=False)
    assert "the deployment of api:8 failed: circuit breaker" in raised.value.message
    assert "task failed to start" in raised.value.message


def test_a_service_that_never_becomes_steady_times_out_naming_its_deployments():
    fake = FakeEcs([[deployment(NEW, "PRIMARY", 1, rollout="IN_PROGRESS"), deployment(OLD, "ACTIVE", 1)]])
    with pytest.raises(WaitTimeout) as raised:
        run(Ecs(fake, "us-west-2"), request(wait_timeout=10), check_mode=False, diff=False)
    assert "was not steady on api:8 within wait_timeout 10s" in raised.value.message
    assert "PRIMARY api:8 running 1/2" in raised.value.message and "run again to wait more" in raised.value.message
    assert raised.value.details["task_definition_arn"] == NEW


def test_steady_needs_one_deployment_of_the_wanted_revision_with_every_task_running():
    service = {"desiredCount": 2, "deployments": [deployment(NEW, "PRIMARY", 2)]}
    assert steady(service, NEW)
    assert not steady(service, OLD)
    assert not steady({"desiredCount": 2, "deployments": [deployment(NEW, "PRIMARY", 1)]}, NEW)
    assert not steady({"desiredCount": 2, "deployments": [deployment(NEW, "PRIMARY", 2), deployment(OLD, "ACTIVE", 1)]}, NEW)


def test_a_request_without_variables_is_refused():
    with pytest.raises(ConfigurationError, match="give environment or secrets"):
        RedeployRequest.from_params({"cluster": "shop", "service": "api", "environment": {}, "secrets": {}})
