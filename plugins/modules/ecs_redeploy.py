#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ecs_redeploy
short_description: Redeploy an ECS service on a new task definition revision with rewritten environment and secrets
version_added: 0.1.0
description:
  - Reads the task definition revision the ECS service O(service) of O(cluster) runs, and registers a new revision of
    it in which the container environment variables O(environment) and the container secrets O(secrets) (their
    C(valueFrom) ARNs) hold the given values - for example the endpoint of an RDS instance just restored, and the
    ARN of the database secret in the region the application fails over to. Everything else the revision holds
    (images, roles, CPU and memory, volumes, tags, every other variable) is kept as it is.
  - Updates the service to the new revision and waits (O(wait)) until the service is steady on it - one deployment,
    of that revision, with as many running tasks as desired - reporting each change of its deployments in
    RV(progress). A deployment that ECS marks as failed (the deployment circuit breaker) ends the wait at once with
    the service's latest events.
  - Idempotent - when the revision the service runs already holds the values, nothing is registered or updated
    and the run only waits for the steady state; a run after a timeout therefore waits again.
  - Without O(containers), each variable is set in every container that has it, and a variable no container has is
    refused before anything changes (a misspelt name); with O(containers), in each of those, added where missing.
  - M(community.aws.ecs_taskdefinition) and M(community.aws.ecs_service) do not do this job. The first registers a
    revision from options (and fills in defaults, such as C(runtime_platform) and C(network_mode)), so a revision made
    from the current one would lose what the options do not cover (C(ephemeralStorage), C(pidMode), C(ipcMode),
    C(proxyConfiguration), a second C(requiresCompatibilities) entry, the tags). The second compares and updates
    the whole service (a missing O(community.aws.ecs_service#module:desired_count) counts as 0), and its
    O(community.aws.ecs_service#module:wait) waits only for a deleted service,
    not for a deployment to become steady.
  - See docs/ecs.md in the collection for the level 3 use and the IAM policy.
author: resilience.dr maintainers (@resilience-dr)
options:
  cluster:
    description: The ECS cluster (name or ARN).
    type: str
    required: true
  service:
    description: The ECS service (name or ARN).
    type: str
    required: true
  environment:
    description:
      - Container environment variables and the values the new revision gives them (V(DATABASE_HOST) to the restored
        endpoint). The values appear in the result and the diff - a password belongs in Secrets Manager, referenced
        with O(secrets).
    type: dict
    default: {}
  secrets:
    description:
      - Container secrets (the C(secrets) of a container definition) and the ARN their C(valueFrom) takes (a Secrets
        Manager secret or an SSM parameter of the region the service runs in).
    type: dict
    default: {}
  containers:
    description: The containers of the task definition to change; default every container that has the variable.
    type: list
    elements: str
    default: []
  wait:
    description: Wait until the service is steady on the new revision.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the steady state. The service stays updated when the wait times out.
    type: int
    default: 600
attributes:
  check_mode:
    description: Reads the service and its revision and reports the changes a run would make; registers and updates nothing.
    support: full
  diff_mode:
    description: Shows the revision and the named variables of each container before and after.
    support: full
notes:
  - Only the variables given change. A variable removed from the task definition is not a use of this module.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Point the api service at the restored orders-db and the secondary region's database secret
  resilience.dr.ecs_redeploy:
    region: us-west-2
    cluster: shopfront
    service: api
    environment:
      DATABASE_HOST: "{{ restored.endpoint }}"
      DATABASE_PORT: "{{ restored.port | string }}"
    secrets:
      DATABASE_CREDENTIALS: arn:aws:secretsmanager:us-west-2:111122223333:secret:shopfront/orders-db-Ab12Cd
    wait_timeout: 900

- name: Show what the redeploy of the worker would change
  resilience.dr.ecs_redeploy:
    region: us-west-2
    cluster: shopfront
    service: worker
    containers: [worker]
    environment:
      DATABASE_HOST: "{{ restored.endpoint }}"
  check_mode: true
  diff: true
"""

RETURN = r"""
action:
  description:
    - V(register_and_update) (a new revision, the service moved to it), V(update) (the service moved to a revision that
      already held the values) or V(none).
  returned: always
  type: str
  sample: register_and_update
task_definition_arn:
  description: The revision the service runs afterwards; null in check mode when a new one would be registered.
  returned: always
  type: str
  sample: arn:aws:ecs:us-west-2:111122223333:task-definition/shopfront-api:42
previous_task_definition_arn:
  description: The revision the service ran before, to go back to.
  returned: always
  type: str
  sample: arn:aws:ecs:us-west-2:111122223333:task-definition/shopfront-api:41
revision:
  description: The number of the revision registered.
  returned: when a revision was registered
  type: int
  sample: 42
changes:
  description: Each variable changed - container, kind (V(environment) or V(secret)), name, before (null when added), after.
  returned: always
  type: list
  elements: dict
  sample: [{container: api, kind: environment, name: DATABASE_HOST, before: orders-db.abc.us-east-1.rds.amazonaws.com,
            after: orders-db.xyz.us-west-2.rds.amazonaws.com}]
steady:
  description: Whether the service was seen steady on the revision (false with O(wait=false) and in check mode).
  returned: always
  type: bool
  sample: true
service:
  description: The service at the end - cluster_arn, service_name, task_definition, desired_count, running_count, deployments (in words).
  returned: always
  type: dict
  sample: {service_name: api, task_definition: "arn:aws:ecs:us-west-2:111122223333:task-definition/shopfront-api:42",
           desired_count: 2, running_count: 2, deployments: PRIMARY shopfront-api:42 running 2/2 pending 0 COMPLETED}
progress:
  description: Each change of the service's deployments seen while waiting, with the seconds since the module started.
  returned: always
  type: list
  elements: dict
  sample: [{state: "PRIMARY shopfront-api:42 running 0/2 pending 2 IN_PROGRESS; ACTIVE shopfront-api:41 running 2/2 pending 0", at_s: 1.2}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import aws_client  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._ecs.service import Ecs, RedeployRequest, run  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._module import mask_options, run_module  # noqa: E402


def argument_spec() -> dict:
    return dict(
        cluster=dict(type="str", required=True),
        service=dict(type="str", required=True),
        environment=dict(type="dict", default={}),
        secrets=dict(type="dict", default={}, no_log=False),
        containers=dict(type="list", elements="str", default=[]),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
    )


def main() -> None:
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True)
    mask_options(module, "access_key")  # a secret of the DR plan, like secret_key
    params = module.params

    def work() -> dict:
        request = RedeployRequest.from_params(params)
        client = aws_client(module, "ecs")
        return run(Ecs(client, str(module.region)), request, check_mode=module.check_mode, diff=module._diff)

    run_module(module, work)


if __name__ == "__main__":
    main()
