#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: plan_validate
short_description: Check a DR plan and resolve it for one site
version_added: 0.1.0
description:
  - Checks what the shape of C(dr_plan) cannot tell (see C(docs/dr-plan.md)) and lists every problem at
    once - components that depend on unknown components or on each other in a cycle, components without a
    backup, unknown kinds and backup methods, durations that do not parse, site overrides and services that
    name unknown components, DNS records without a value for a site, unknown repository keys, a
    C(restore.standby) on a component that is not physical PostgreSQL or on a site without C(restore.data_dir)
    and C(restore.port), consistency hooks (C(backup.hooks)) and recovery hooks (C(hooks) of the plan, a site or a
    component) with unknown phases or keys, wrong types or a command written as a shell string instead of an
    argument list, and a plan
    with several sites that keeps every site's backups in one repository (refused unless the plan says
    C(single_repository=accepted) with C(single_repository_reason); then a warning).
  - Resolves the plan for O(site) - each component's connection with the site's overrides applied, the
    order to restore components in (batches whose members do not depend on each other), the steps the
    recovery playbooks run them in (the members of one step are restored at the same time; they never share a
    server, path, bucket or instance, and a component with C(restore.parallel=false) has a step of its own),
    the order to start services in, which components and services depend on each component, and the warm
    standbys a backup taken on O(site) keeps on the other sites.
  - Runs on the controller and changes nothing; the recovery playbooks call it first, so a broken plan
    fails before anything is stopped or restored.
  - The resolved plan it returns holds no secret - every password, access key, secret key, session token,
    age identity, TSIG secret and header dictionary is replaced by C(********) (the secret keys are listed in
    C(docs/dr-plan.md)). Tasks read a secret where they use it, with the filter
    P(resilience.dr.plan_secrets#filter), and hand it to a module option that is C(no_log). The plan's secrets
    are also masked in the module's invocation.
  - A run needs only the secrets of the parts it acts on (O(uses), O(component)). Give the plan through the filter
    P(resilience.dr.mark_undefined#filter) and a variable the plan names that is not defined reaches this module as
    a marker - tolerated in a secret of a part the run does not use, and otherwise a problem that names the
    variable and the component (or part) that needs it, found before anything is stopped or restored.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  plan:
    description: The DR plan, usually C({{ dr_plan }}).
    type: dict
    required: true
  site:
    description: The site to resolve the plan for (a key of C(dr_plan.sites)).
    type: str
    default: primary
  component:
    description:
      - A component that must exist in the plan (level 1 recovery); returned resolved as RV(component).
      - Of the components' secrets, the run then needs this component's alone.
    type: str
  components:
    description:
      - The components the run acts on (a backup of some of them); of the components' secrets, the run needs theirs
        alone. Empty - every component, or O(component) alone when it is given.
    type: list
    elements: str
    default: []
  uses:
    description:
      - The parts of the plan whose secrets the run needs - C(repository) (the repository of O(site)), C(components)
        (every component, or O(component) alone), C(dns), C(notifications), C(security) (the credentials a security
        incident rotates) and C(restore_test) (the restore test's server). A secret of any other part may be
        an undefined variable (see P(resilience.dr.mark_undefined#filter)); a value outside the secrets may not.
    type: list
    elements: str
    choices: [repository, components, dns, notifications, security, restore_test]
    default: [repository, components, dns, notifications, security, restore_test]
  target_time:
    description:
      - The point in time the run restores every component to (the last moment the data was right), ISO 8601;
        a time without a zone is UTC. Checked here, before anything is stopped, and returned normalised in
        RV(point_in_time). A time in the future is refused.
    type: str
  intrusion_time:
    description:
      - When an intruder first acted (the security runbook), ISO 8601. The run restores its components to their
        newest state at or before it, like O(target_time), which it excludes; returned as both C(target_time) and
        C(intrusion_time) in RV(point_in_time). A time in the future or one that cannot be read is refused,
        naming O(intrusion_time).
    type: str
  incident_start:
    description:
      - When the incident began, ISO 8601. S3 components roll back to it when no O(target_time) is given. A time
        in the future is refused.
    type: str
  infrastructure_outputs:
    description:
      - The outputs of the site's Terraform or OpenTofu project (C(dr_plan.sites.<site>.infrastructure)), as
        C(terraform output -json) gives them - each output's C(value) and C(sensitive) flag. Each output the plan's
        C(infrastructure.outputs) maps is written into the place it names before the plan is resolved, so the
        resolved plan holds, for example, the database host the infrastructure step just created.
      - A mapped output that is sensitive is refused (its value would show in the resolved plan). Give a sensitive
        output with C(sensitive) set to V(true) and no C(value).
      - Level 3's infrastructure step (C(playbooks/tasks/infrastructure.yml)) sets it; see C(docs/dr-plan.md),
        Infrastructure.
    type: dict
  infrastructure_applied:
    description:
      - The infrastructure was applied, so every output the plan maps must be in O(infrastructure_outputs). V(false)
        in check mode, when a new project has no outputs yet - a missing one is listed in
        RV(infrastructure_outputs.unknown) and its place keeps the plan's own value.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Check the DR plan before touching anything
  resilience.dr.plan_validate:
    plan: "{{ dr_plan }}"
    site: secondary
  register: dr

- name: Check the plan for a check run of orders-db, which needs no other component's secrets
  resilience.dr.plan_validate:
    plan: "{{ dr_plan | resilience.dr.mark_undefined }}"
    component: orders-db
    uses: [repository, components]

- name: Show the order components will be restored in
  ansible.builtin.debug:
    msg: "{{ dr.plan.restore_batches }}"
"""

RETURN = r"""
point_in_time:
  description:
    - The run's point in time, checked and in UTC - C(target_time) and C(incident_start) as given (null when not
      given), C(run_started) (when this module ran), and C(s3_time) with C(s3_time_source), the time S3
      components roll back to - O(target_time), else O(incident_start), else the run's start.
  returned: success
  type: dict
  sample: {target_time: null, intrusion_time: null, incident_start: "2026-11-23T04:10:00Z", run_started: "2026-11-23T04:25:13.402113Z",
           s3_time: "2026-11-23T04:10:00Z", s3_time_source: incident_start}
plan:
  description: The plan resolved for O(site), secrets replaced by C(********).
  returned: success
  type: dict
  contains:
    name:
      description: The application's name.
      type: str
    site:
      description: The site resolved for.
      type: str
    repository:
      description:
        - The repository of O(site) as module options - C(repository) (the plan's C(location)) and every other
          key set in C(dr_plan.repository), with the site's C(sites.<site>.repository) merged over it.
      type: dict
    repositories:
      description: The repository of every site of the plan, by site, as in RV(plan.repository).
      type: dict
    copy_to:
      description:
        - The other sites whose repository is another place (another directory, bucket, region or endpoint);
          the backup playbook copies each new verified backup taken on O(site) to them.
      type: list
      elements: str
    standbys:
      description:
        - The warm standbys a backup taken on O(site) keeps on the other sites - each physical PostgreSQL component
          whose C(restore.standby) is true on another site, as C(site) and C(component). The backup role ensures each
          one exists and replays WAL there, with that site's resolved settings.
      type: list
      elements: dict
      sample: [{site: secondary, component: orders-cluster}]
    backup:
      description:
        - The plan-level backup settings - C(hooks), the consistency hooks run once before (C(pre)) and once after
          (C(post)) every component's backup, each with its defaults filled in - C(name), C(kind) (V(command) or
          V(tasks)), C(command), C(chdir), C(tasks), C(timeout) (seconds), C(retries) and C(delay) (seconds between
          attempts), C(host) (V(null) - the host the play runs on) and C(check_safe). Empty lists without hooks.
      type: dict
      sample: {hooks: {pre: [{name: pause writes, kind: command, command: [shopfront-ctl, pause], chdir: null,
                              tasks: null, timeout: 300, retries: 0, delay: 5, host: null, check_safe: false}], post: []}}
    hooks:
      description:
        - The plan's recovery hooks (C(dr_plan.hooks)), one list per phase - C(before_restore), C(after_restore),
          C(before_failover), C(after_failover), C(after_failback) - each hook with its defaults as in RV(plan.backup).
          Empty lists without hooks.
      type: dict
      sample: {before_restore: [], after_restore: [{name: apply migrations, kind: command, command: [shopfront-ctl, migrate],
               chdir: null, tasks: null, timeout: 900, retries: 0, delay: 5, host: app1, check_safe: false}], before_failover: [],
               after_failover: [], after_failback: []}
    site_hooks:
      description:
        - The recovery hooks of the site the plan is resolved for (C(dr_plan.sites.<site>.hooks)), as in RV(plan.hooks).
      type: dict
    sites_hooks:
      description:
        - The recovery hooks of every site by its name, each as in RV(plan.site_hooks) (the plan document lists them).
      type: dict
    warnings:
      description:
        - What the plan accepts knowingly, also shown as warnings - for example every site keeping its backups in
          one repository (C(single_repository=accepted)) with the plan's reason.
      type: list
      elements: str
    components:
      description:
        - Each component by name, with the site's overrides merged into it, C(rpo_seconds) and
          C(rto_seconds), and C(host) (the inventory host its modules run on, default C(localhost)).
        - Its C(backup.hooks) are the component's consistency hooks (C(pre) and C(post)) with their defaults, as in
          RV(plan.backup); a hook without C(host) runs on the component's C(host).
        - Its C(hooks) are the component's recovery hooks (every phase, as in RV(plan.hooks)), run around its
          restore; a hook without C(host) runs on the component's C(host).
        - Its C(backup.schedule) is the component's own, else the plan's C(backup_schedule), else V(daily).
        - An C(rds) component also has C(copies), the other sites whose region differs, each with C(site),
          C(region), C(endpoint_url) and C(kms_key_id) (that site's C(backup.kms_key_id)), where the backup copies
          its snapshot; and C(restore.source), V(point_in_time) by default in the primary site's region and
          V(snapshot) (the newest snapshot in the site's region) elsewhere, or V(replica) when the plan says so
          (promote the read replica C(connection.db_instance_identifier)).
      type: dict
    schedules:
      description:
        - When the plan's scheduled jobs run, as systemd calendar expressions. C(backup) lists one backup run per
          distinct C(backup.schedule) of the components, in plan order of first use, each with C(schedule) and
          C(components) (the names it backs up; C(s3) components, whose object versions are their backups, are in
          none). C(restore_test) and C(rpo_check) are the plan's C(restore_test_schedule) (default V(daily)) and
          C(rpo_check_schedule) (default V(hourly)).
      type: dict
      sample: {backup: [{schedule: "*:0/15", components: [orders-db]}, {schedule: daily, components: [sessions, uploads]}],
               restore_test: daily, rpo_check: hourly}
    restore_batches:
      description: Component names in restore order; the members of one batch do not depend on each other.
      type: list
      elements: list
      sample: [[orders-db, sessions], [uploads]]
    restore_steps:
      description:
        - The restore batches cut into steps that the level 2 and level 3 playbooks run one after another; the
          members of one step are restored at the same time.
        - Members of a step never write to the same target (database or Redis server, overlapping file paths,
          bucket, RDS instance); a component whose plan sets C(restore.parallel=false) is a step of its own.
      type: list
      elements: list
      sample: [[orders-db, sessions], [uploads]]
    services:
      description: Each service by name, with the site's overrides merged into it.
      type: dict
    service_batches:
      description: Service names in start order (stop in reverse).
      type: list
      elements: list
    dependants:
      description: For each component, the components and services that depend on it.
      type: dict
    dns_records:
      description:
        - The plan's DNS records, each with C(site_values) (the values per site; an empty list where the site has an
          alias) and C(site_aliases) (the Route 53 alias target per site, C(null) where it has values).
      type: list
      elements: dict
    infrastructure:
      description:
        - The Terraform or OpenTofu project of O(site) (C(dr_plan.sites.<site>.infrastructure)) with its defaults -
          C(project_path), C(workspace) (the site's name unless given), C(binary_path) (null - C(terraform) on the
          PATH), C(variables), C(variables_files) and C(outputs) (output name to the place in the plan it feeds);
          null when the site has none.
      type: dict
      sample: {project_path: /srv/shopfront/terraform, workspace: secondary, binary_path: null, variables: {region: eu-west-2},
               variables_files: [], outputs: {orders_db_host: components.orders-db.connection.login_host}}
infrastructure_outputs:
  description:
    - With O(infrastructure_outputs) - C(fed), each mapped output's name with the place in the plan its value went
      to, and C(unknown), the mapped outputs not there yet (check mode on a project never applied).
  returned: when O(infrastructure_outputs) is given
  type: dict
  contains:
    fed:
      description: Each mapped output's name with the place in the plan its value went to.
      type: dict
      sample: {orders_db_host: components.orders-db.connection.login_host}
    unknown:
      description: The mapped outputs not there yet (check mode on a project never applied); their places keep the plan's values.
      type: list
      elements: str
      sample: []
component:
  description: The component named by O(component), resolved for O(site), secrets replaced by C(********).
  returned: when O(component) is given
  type: dict
problems:
  description: Every problem found (on failure).
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils import _point_in_time as point_in_time
from ansible_collections.resilience.dr.plugins.module_utils._module import run_module
from ansible_collections.resilience.dr.plugins.module_utils._plan.infrastructure import with_outputs
from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import PLAN_PARTS
from ansible_collections.resilience.dr.plugins.module_utils._plan.resolve import resolve
from ansible_collections.resilience.dr.plugins.module_utils._plan.secrets import redact, secret_values, undefined_needed
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import PlanError


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            plan=dict(type="dict", required=True),
            site=dict(type="str", default="primary"),
            component=dict(type="str"),
            target_time=dict(type="str"),
            incident_start=dict(type="str"),
            intrusion_time=dict(type="str"),
            components=dict(type="list", elements="str", default=[]),
            uses=dict(type="list", elements="str", choices=list(PLAN_PARTS), default=list(PLAN_PARTS)),
            infrastructure_outputs=dict(type="dict"),
            infrastructure_applied=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    # The plan option is a dictionary, so no_log on it would mask every name in it: mask only its secrets,
    # in the invocation and anywhere else they could show up.
    module.no_log_values.update(secret_values(params["plan"]))

    def work() -> dict:
        # An undefined variable the run needs fails here, before anything is stopped, naming it and its component.
        acted_on = params["components"] + ([params["component"]] if params["component"] else [])
        missing = undefined_needed(params["plan"], params["site"], acted_on, params["uses"])
        if missing:
            raise PlanError(missing)
        given, fed = params["plan"], None
        if params["infrastructure_outputs"] is not None:
            # The infrastructure step's outputs, written where the plan maps them, before the plan is resolved.
            given, fed, problems = with_outputs(given, params["site"], params["infrastructure_outputs"],
                                                params["infrastructure_applied"])
            if problems:
                raise PlanError(problems)
        plan = redact(resolve(given, params["site"]))
        for warning in plan["warnings"]:
            module.warn(warning)
        result = {"changed": False, "plan": plan,
                  "point_in_time": point_in_time.resolve(
                      params["target_time"], params["incident_start"], intrusion_time=params["intrusion_time"])}
        if fed is not None:
            result["infrastructure_outputs"] = fed
        name = params["component"]
        if name:
            if name not in plan["components"]:
                raise ConfigurationError(
                    f"component {name} is not in the plan; its components are {', '.join(plan['components'])}"
                )
            result["component"] = plan["components"][name]
        return result

    run_module(module, work)


if __name__ == "__main__":
    main()
