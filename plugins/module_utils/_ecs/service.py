# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ecs_redeploy: an ECS service moved to a revision of its task definition with rewritten variables, then waited for.

The plan is computed from what ECS reports now: the task definition the service runs, rewritten
(taskdef.rewrite). When that changes nothing, no revision is registered; when the service already runs the
wanted revision, it is not updated. Either way the run waits (when asked) until the service is steady: one
deployment, on the wanted revision, with as many running tasks as desired. A later run after a timeout
therefore only waits again.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from ansible_collections.resilience.dr.plugins.module_utils._aws.errors import BotoCoreError, ClientError, error_code, failure
from ansible_collections.resilience.dr.plugins.module_utils._ecs.taskdef import rewrite, variables
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError, WaitTimeout
from ansible_collections.resilience.dr.plugins.module_utils._timing import Stopwatch, wait_for

IAM_HINT = (
    "the redeploy role needs ecs:DescribeServices, ecs:DescribeTaskDefinition, ecs:RegisterTaskDefinition, "
    "ecs:UpdateService, ecs:TagResource (a revision keeps its tags), and iam:PassRole for the task and execution "
    "roles (see docs/ecs.md)"
)


@dataclass
class RedeployRequest:
    cluster: str
    service: str
    environment: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    containers: list[str] = field(default_factory=list)
    wait: bool = True
    wait_timeout: int = 600

    @classmethod
    def from_params(cls, params: dict[str, t.Any]) -> RedeployRequest:
        environment = {str(key): str(value) for key, value in (params.get("environment") or {}).items()}
        secrets = {str(key): str(value) for key, value in (params.get("secrets") or {}).items()}
        if not environment and not secrets:
            raise ConfigurationError("give environment or secrets: the variables the new revision changes")
        return cls(cluster=params["cluster"], service=params["service"], environment=environment, secrets=secrets,
                   containers=list(params.get("containers") or []), wait=bool(params.get("wait", True)),
                   wait_timeout=int(params.get("wait_timeout") or 600))


class Ecs:
    """One region's ECS API, with errors that say what failed and what to do."""

    def __init__(self, client: t.Any, region: str) -> None:
        self.client = client
        self.region = region

    def call(self, what: str, method: str, **kwargs: t.Any) -> t.Any:
        try:
            return getattr(self.client, method)(aws_retry=True, **kwargs)
        except (ClientError, BotoCoreError) as error:
            if error_code(error) in ("ClusterNotFoundException", "ServiceNotFoundException", "ServiceNotActiveException"):
                raise ConfigurationError(f"ECS in {self.region} failed to {what}: {error}; check cluster, service "
                                         f"and region") from None
            raise failure(error, f"ECS in {self.region}", what, IAM_HINT) from None

    def service(self, cluster: str, name: str) -> dict[str, t.Any]:
        found = self.call(f"describe service {name} of cluster {cluster}", "describe_services", cluster=cluster,
                          services=[name])
        services = [item for item in found.get("services") or [] if item.get("status") == "ACTIVE"]
        if not services:
            reasons = ", ".join(f"{item.get('arn')}: {item.get('reason')}" for item in found.get("failures") or [])
            raise ConfigurationError(
                f"ECS service {name} is not an active service of cluster {cluster} in {self.region}"
                f"{' (' + reasons + ')' if reasons else ''}; check cluster, service and region"
            )
        return services[0]

    def task_definition(self, reference: str) -> tuple[dict[str, t.Any], list[dict[str, str]]]:
        found = self.call(f"describe task definition {reference}", "describe_task_definition",
                          taskDefinition=reference, include=["TAGS"])
        return found["taskDefinition"], found.get("tags") or []


def _revision_name(arn: str | None) -> str | None:
    return None if arn is None else str(arn).rsplit("/", 1)[-1]


def _deployment_state(service: dict[str, t.Any]) -> str:
    parts = []
    for deployment in service.get("deployments") or []:
        parts.append(
            f"{deployment.get('status')} {_revision_name(deployment.get('taskDefinition'))} running "
            f"{deployment.get('runningCount', 0)}/{deployment.get('desiredCount', 0)} pending "
            f"{deployment.get('pendingCount', 0)}{' ' + str(deployment['rolloutState']) if deployment.get('rolloutState') else ''}"
        )
    return "; ".join(parts) or "no deployment"


def steady(service: dict[str, t.Any], wanted_arn: str) -> bool:
    """Whether the service is steady on wanted_arn: one deployment, of that revision, all its tasks running.

    ECS's own services_stable waiter asks for one deployment and runningCount == desiredCount; the revision is
    checked too, so that a service still on its old revision never counts as redeployed.
    """
    deployments = service.get("deployments") or []
    if len(deployments) != 1:
        return False
    deployment = deployments[0]
    return (deployment.get("taskDefinition") == wanted_arn
            and deployment.get("runningCount") == deployment.get("desiredCount") == service.get("desiredCount")
            and deployment.get("rolloutState") in (None, "COMPLETED"))


def _failed(service: dict[str, t.Any], wanted_arn: str) -> str | None:
    for deployment in service.get("deployments") or []:
        if deployment.get("taskDefinition") == wanted_arn and deployment.get("rolloutState") == "FAILED":
            events = "; ".join(str(event.get("message")) for event in (service.get("events") or [])[:3])
            return (f"the deployment of {_revision_name(wanted_arn)} failed: {deployment.get('rolloutStateReason')}"
                    f"{' (latest events: ' + events + ')' if events else ''}")
    return None


def wait_steady(ecs: Ecs, request: RedeployRequest, wanted_arn: str, progress: list[dict[str, t.Any]],
                stopwatch: Stopwatch) -> dict[str, t.Any]:
    """Poll the service until it is steady on wanted_arn, recording each change of its deployments."""
    latest: dict[str, t.Any] = {}

    def probe() -> bool | None:
        service = ecs.service(request.cluster, request.service)
        latest["service"] = service
        state = _deployment_state(service)
        if not progress or progress[-1]["state"] != state:
            progress.append({"state": state, "at_s": stopwatch.elapsed()})
        reason = _failed(service, wanted_arn)
        if reason:
            raise DrError(f"ECS service {request.service} of cluster {request.cluster}: {reason}; its tasks do not "
                          "start on the new revision - check the image, the secrets' ARNs and the task role",
                          progress=progress)
        return True if steady(service, wanted_arn) else None

    try:
        wait_for(probe, timeout=request.wait_timeout, what=f"ECS service {request.service}", interval=2.0,
                 max_interval=15.0)
    except WaitTimeout:
        raise WaitTimeout(
            f"ECS service {request.service} of cluster {request.cluster} was not steady on "
            f"{_revision_name(wanted_arn)} within wait_timeout {request.wait_timeout}s (now: "
            f"{_deployment_state(latest.get('service') or {})}); the service is updated and ECS keeps deploying: "
            "run again to wait more, or look at the service's events",
            progress=progress, task_definition_arn=wanted_arn,
        ) from None
    return latest["service"]


def _service_facts(service: dict[str, t.Any]) -> dict[str, t.Any]:
    return {
        "cluster_arn": service.get("clusterArn"),
        "service_name": service.get("serviceName"),
        "task_definition": service.get("taskDefinition"),
        "desired_count": service.get("desiredCount"),
        "running_count": service.get("runningCount"),
        "deployments": _deployment_state(service),
    }


def run(ecs: Ecs, request: RedeployRequest, *, check_mode: bool, diff: bool) -> dict[str, t.Any]:
    stopwatch = Stopwatch()
    service = ecs.service(request.cluster, request.service)
    current_arn = str(service.get("taskDefinition"))
    current, tags = ecs.task_definition(current_arn)
    register, changes = rewrite(current, request.environment, request.secrets, request.containers)
    # describe_task_definition names the revision by its ARN even when the service was given family:revision.
    current_arn = str(current.get("taskDefinitionArn") or current_arn)
    result: dict[str, t.Any] = {
        "changed": bool(changes), "changes": changes, "previous_task_definition_arn": current_arn,
        "task_definition_arn": None if changes else current_arn, "progress": [], "steady": False,
        "action": "register_and_update" if changes else "none",
    }
    if diff:
        result["diff"] = {
            "before": {"task_definition": _revision_name(current_arn),
                       "variables": variables(current, request.environment, request.secrets)},
            "after": {"task_definition": f"{current.get('family')}:(new revision)" if changes else _revision_name(current_arn),
                      "variables": variables(register, request.environment, request.secrets)},
        }
    if check_mode:
        result["service"] = _service_facts(service)
        return result
    if changes:
        if tags:
            register["tags"] = tags
        registered = ecs.call(f"register a revision of task definition {current.get('family')}",
                              "register_task_definition", **register)["taskDefinition"]
        result["task_definition_arn"] = registered["taskDefinitionArn"]
        result["revision"] = registered.get("revision")
    wanted = str(result["task_definition_arn"])
    if service.get("taskDefinition") not in (wanted, _revision_name(wanted)):
        service = ecs.call(f"update service {request.service} to {_revision_name(wanted)}", "update_service",
                           cluster=request.cluster, service=request.service, taskDefinition=wanted)["service"]
        result["changed"] = True
        result["action"] = "register_and_update" if changes else "update"
    if request.wait:
        service = wait_steady(ecs, request, wanted, result["progress"], stopwatch)
        result["steady"] = True
    result["service"] = _service_facts(service)
    return result
