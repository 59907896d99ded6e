# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR plan: one dictionary describing the application, checked and resolved.

`dr_plan` (docs/dr-plan.md) names the components, where backups go, the
sites, DNS records and services. The roles' argument specs check its shape;
this module checks what a schema cannot — references between parts, cycles,
components without a backup, durations — and resolves the plan for one site:
each component's connection with the site's overrides applied, the order to
restore in (batches whose members do not depend on each other), the steps
the recovery playbooks run those batches in (components of one step are
restored at the same time), the order to start services in, and who depends
on whom. An rds component also gets where its snapshots are copied (the other
sites' regions) and where it is restored from on this site (rds_sources);
a physical PostgreSQL component with restore.standby on another site is a
warm standby that the backup taken here keeps there (standbys). Consistency
hooks (backup.hooks of the plan and of each component: commands or task files
run before and after the backups) are checked and given their defaults here,
and so are the schedules: each component's backup.schedule (the plan's
backup_schedule when it has none), the backup runs they make (schedules), and
when the restore test and the RPO check run.

Secrets (SECRET_KEYS) never leave this module in a resolved plan: `redact`
replaces them with REDACTED, and `secrets` gives only them, for the one task
that hands a secret to a module option that is no_log.

A run needs only the secrets of the parts it acts on. The controller's
filters (resilience.dr.mark_undefined, plan_secrets) hand this module an
undefined variable of the plan as a marker (UNDEFINED_MARKER and the
variable's name); `undefined_needed` lists each one the run needs, and
each one outside a secret, which validation and the order need on any run.
"""

from __future__ import annotations

import copy
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._repository.manifest import COMPONENT_PATTERN
from ansible_collections.resilience.dr.plugins.module_utils._timing import parse_duration

KINDS = ("postgresql", "rds", "redis", "files", "s3")
# Kinds whose data lives in our backup repository (rds uses snapshots, s3 object versions).
REPOSITORY_KINDS = ("postgresql", "redis", "files")
BACKUP_METHODS = {
    "postgresql": ("logical", "physical"),
    "redis": ("rdb", "online"),
    "files": ("tar",),
    "rds": ("snapshot",),
    "s3": ("versioning",),
}
LEVELS = ("component", "application", "site")
# Where a restore of an rds component comes from (restore.source; see rds_sources).
RDS_RESTORE_SOURCES = ("point_in_time", "snapshot")
# Keys whose values are secrets wherever they appear in a plan (docs/dr-plan.md, "Secrets").
SECRET_KEYS = frozenset((
    "login_password", "password", "smtp_password", "access_key", "secret_key", "session_token",
    "encryption_identity", "tsig_key_secret",
))
# Keys whose whole value (a URL, a dictionary of headers) carries a token.
SECRET_CONTAINERS = frozenset(("headers",))
REDACTED = "********"
# What an undefined variable of the plan becomes on its way from the controller (see undefined_needed).
UNDEFINED_MARKER = "<resilience.dr undefined variable> "
# The parts of a plan a run may use (plan_validate's `uses`); a component run uses one component.
PLAN_PARTS = ("repository", "components", "dns", "notifications", "security", "restore_test")
# The keys of a repository mapping (top-level or a site's): `location` plus every option the repository
# modules share (plugins/module_utils/_repository/options.py). Any other key is a plan error, so a
# misspelt key is never silently dropped on its way to the modules.
REPOSITORY_KEYS = frozenset((
    "location", "endpoint_url", "region", "access_key", "secret_key", "session_token", "profile",
    "validate_certs", "aws_ca_bundle", "aws_config", "s3_sse", "s3_sse_kms_key_id", "encryption_identity_file", "encryption_identity",
    "lock_timeout", "break_stale_lock", "encryption_recipients", "compression_level", "compression_threads",
    "retention_class", "s3_object_lock_mode", "s3_object_lock_days", "signing_key_file", "signing_public_keys",
))

# Consistency hooks (docs/dr-plan.md, "Consistency hooks"): backup.hooks.pre / .post of the plan and of a component.
HOOK_STAGES = ("pre", "post")
HOOK_KEYS = frozenset(("name", "command", "chdir", "tasks", "timeout", "host", "check_safe"))
HOOK_TIMEOUT = 300
# The keys of the plan's top-level backup mapping.
PLAN_BACKUP_KEYS = frozenset(("hooks",))
# Where the restore_test playbook restores to (docs/dr-plan.md, "Restore tests"): dr_plan.restore_test for every
# component, a component's restore_test over it.
RESTORE_TEST_KEYS = frozenset((
    "base_dir", "os_user", "pg_bin_dir", "redis_server", "bucket_prefix", "instance_prefix", "db_instance_class",
    "vpc_security_group_ids", "server",
))
RESTORE_TEST_SERVER_KEYS = frozenset(("login_host", "login_port", "login_user", "login_password", "login_unix_socket", "db"))
# The plan's schedules (docs/dr-plan.md, "Schedules"), systemd calendar expressions, and their defaults.
PLAN_SCHEDULES = {"backup": "daily", "restore_test": "daily", "rpo_check": "hourly"}
# Kinds a backup run backs up: an s3 component's object versions are its backups.
SCHEDULED_BACKUP_KINDS = ("postgresql", "rds", "redis", "files")


class PlanError(ConfigurationError):
    """Every problem found in a plan, listed at once."""

    def __init__(self, problems: list[str]) -> None:
        listed = "\n".join(f"- {problem}" for problem in problems)
        super().__init__(f"dr_plan has {len(problems)} problem(s):\n{listed}", problems=problems)


def _seconds(value: t.Any, where: str, problems: list[str]) -> int | None:
    try:
        duration = parse_duration(value, where)
    except ConfigurationError as error:
        problems.append(error.message)
        return None
    return int(duration.total_seconds()) if duration is not None else None


def _names(items: t.Sequence[dict[str, t.Any]], what: str, problems: list[str]) -> list[str]:
    names = []
    for position, item in enumerate(items, start=1):
        name = item.get("name") if isinstance(item, dict) else None
        if not name:
            problems.append(f"{what} {position} has no name")
            continue
        if name in names:
            problems.append(f"{what} {name} is defined twice")
        names.append(name)
    return names


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as a path (a -> b -> a), or None."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for neighbour in graph.get(node, []):
            if state.get(neighbour) == 1:
                return path[path.index(neighbour):] + [neighbour]
            if neighbour not in state:
                found = visit(neighbour)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def batches(graph: dict[str, list[str]], order: t.Sequence[str]) -> list[list[str]]:
    """Topological levels: each batch depends only on earlier ones (ties keep plan order)."""
    remaining = list(order)
    done: set[str] = set()
    result = []
    while remaining:
        ready = [name for name in remaining if all(dependency in done for dependency in graph.get(name, []))]
        if not ready:  # only reachable with a cycle, which validation reports first
            raise ConfigurationError(f"cannot order {', '.join(remaining)}: their dependencies form a cycle")
        result.append(ready)
        done.update(ready)
        remaining = [name for name in remaining if name not in done]
    return result


def restore_target(component: dict[str, t.Any]) -> tuple[str, ...]:
    """What a restore of the (resolved) component writes to, as a comparable key.

    Two components with the same key are never restored at the same time: a
    Redis restore may flush the whole server, a physical PostgreSQL restore
    replaces the whole data directory, and two logical restores on one server
    compete for its disks, so the key of a database or cache is its server,
    not the database. Files are keyed by host and path (nested paths are
    compared separately, see targets_overlap).
    """
    kind = component.get("kind")
    host = str(component.get("host") or "localhost")
    connection = component.get("connection") or {}
    if kind in ("postgresql", "redis"):
        server = connection.get("login_unix_socket") or connection.get("login_host") or "localhost"
        port = connection.get("login_port") or ("5432" if kind == "postgresql" else "6379")
        if kind == "postgresql" and (component.get("restore") or {}).get("data_dir"):
            return ("server", host, str(server), str(port), str(component["restore"]["data_dir"]))
        return ("server", host, str(server), str(port))
    if kind == "files":
        return ("path", host, str(connection.get("path") or "").rstrip("/") or "/")
    if kind == "s3":
        restore = component.get("restore") or {}
        return ("bucket", str(connection.get("endpoint_url") or ""), str(restore.get("target_bucket") or connection.get("bucket") or ""))
    if kind == "rds":
        return ("rds", str(connection.get("endpoint_url") or ""), str(connection.get("region") or ""),
                str(connection.get("db_instance_identifier") or ""))
    return ("component", str(component.get("name")))


def targets_overlap(first: tuple[str, ...], second: tuple[str, ...]) -> bool:
    """Whether two restore targets (restore_target) may touch the same data."""
    if first == second:
        return True
    if first[0] == second[0] == "path" and first[1] == second[1]:
        one, other = first[2].rstrip("/") + "/", second[2].rstrip("/") + "/"
        return one.startswith(other) or other.startswith(one)
    if first[0] == second[0] == "server" and first[1:4] == second[1:4]:
        return True  # one server, whatever the data directory
    return False


def restore_steps(restore_batches: list[list[str]], components: dict[str, dict[str, t.Any]]) -> list[list[str]]:
    """The batches cut into steps whose members are restored at the same time.

    A step only holds members of one batch (so dependency order is kept), never
    two components whose restore targets overlap, and a component whose plan
    says restore.parallel: false gets a step of its own. Steps keep plan order.
    """
    steps: list[list[str]] = []
    for batch in restore_batches:
        shared: list[list[str]] = []
        alone: list[list[str]] = []
        for name in batch:
            if (components[name].get("restore") or {}).get("parallel", True) is False:
                alone.append([name])
                continue
            target = restore_target(components[name])
            for step in shared:
                if not any(targets_overlap(target, restore_target(components[other])) for other in step):
                    step.append(name)
                    break
            else:
                shared.append([name])
        steps.extend(shared + alone)
    return steps


def _merge(base: dict[str, t.Any], override: dict[str, t.Any]) -> dict[str, t.Any]:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def site_component(plan: dict[str, t.Any], site: str, component: dict[str, t.Any]) -> dict[str, t.Any]:
    """The component as the site sees it: the site's sites.<site>.components.<name> merged over it."""
    overrides = ((plan.get("sites") or {}).get(site) or {}).get("components") or {}
    return _merge(component, overrides.get(component.get("name")) or {})


def _check_standby(plan: dict[str, t.Any], component: dict[str, t.Any], problems: list[str]) -> None:
    """restore.standby: a physical PostgreSQL component, with a data directory and a port on each site using it."""
    for site in plan.get("sites") or {}:
        merged = site_component(plan, site, component)
        restore = merged.get("restore") or {}
        if not isinstance(restore, dict) or not restore.get("standby"):
            continue
        if not isinstance(restore["standby"], bool):
            problems.append(f"component {component['name']} has restore.standby {restore['standby']!r} on site {site}; "
                            "write true or false")
            continue
        if merged.get("kind") != "postgresql" or (merged.get("backup") or {}).get("method") != "physical":
            problems.append(f"component {component['name']} has restore.standby on site {site}, but only a physical "
                            "PostgreSQL component (backup.method: physical, pgBackRest) can have a warm standby")
            continue
        missing = [key for key in ("data_dir", "port") if not restore.get(key)]
        if missing:
            problems.append(f"component {component['name']} has restore.standby on site {site} without restore."
                            f"{' and restore.'.join(missing)}: say where the standby runs there")


def standbys(plan: dict[str, t.Any], site: str) -> list[dict[str, str]]:
    """The warm standbys that a backup taken on site keeps on the other sites: each physical component whose
    restore.standby is true on another site, as {"site", "component"}, in plan order."""
    return [{"site": other, "component": component["name"]}
            for component in plan.get("components") or []
            for other in plan.get("sites") or {}
            if other != site and ((site_component(plan, other, component).get("restore") or {}).get("standby") is True)]


def _check_rds(component: dict[str, t.Any], sites: dict[str, t.Any], problems: list[str]) -> None:
    """restore.source and backup.kms_key_id of an rds component, at the top level and on every site."""
    name = component["name"]
    overrides = {"": component}
    for site, settings in sites.items():
        override = ((settings or {}).get("components") or {}).get(name)
        if isinstance(override, dict):
            overrides[site] = override
    for site, settings in overrides.items():
        where = f"component {name}" if not site else f"site {site} component {name}"
        source = (settings.get("restore") or {}).get("source")
        if source is not None and source not in RDS_RESTORE_SOURCES:
            problems.append(f"{where} has restore.source {source!r}; use one of {', '.join(RDS_RESTORE_SOURCES)}")
        key = (settings.get("backup") or {}).get("kms_key_id")
        if key is not None and (not isinstance(key, str) or not key):
            problems.append(
                f"{where} has backup.kms_key_id {key!r}; give the ARN, id or alias of a KMS key of the site's region"
            )


def _rds_location(component: dict[str, t.Any]) -> tuple[str, str]:
    connection = component.get("connection") or {}
    return str(connection.get("region") or ""), str(connection.get("endpoint_url") or "")


def rds_sources(plan: dict[str, t.Any], site: str, component: dict[str, t.Any]) -> tuple[str, list[dict[str, t.Any]]]:
    """The restore source an rds component defaults to on site, and the copies its backup makes.

    The backup snapshots the instance in the serving site's region; every other
    site whose connection names another region gets a copy there
    ({site, region, endpoint_url, kms_key_id}, the key being that site's
    backup.kms_key_id). A site in the primary site's region restores to a
    point in time of the primary's instance; a site elsewhere cannot reach that
    instance's transaction logs, so it restores the newest snapshot in its own
    region (the copies). `component` is the component resolved for site.
    """
    sites = plan.get("sites") or {}
    base = next(item for item in plan["components"] if item["name"] == component["name"])
    region, _endpoint = _rds_location(component)

    def on(other: str) -> dict[str, t.Any]:
        return _merge(base, ((sites[other] or {}).get("components") or {}).get(base["name"]) or {})

    copies = []
    for other in sites:
        if other == site:
            continue
        there = on(other)
        other_region, other_endpoint = _rds_location(there)
        if other_region and other_region != region:
            copies.append({
                "site": other,
                "region": other_region,
                "endpoint_url": other_endpoint or None,
                "kms_key_id": (there.get("backup") or {}).get("kms_key_id"),
            })
    primary_region = _rds_location(on("primary"))[0] if "primary" in sites else region
    default_source = "point_in_time" if primary_region == region else "snapshot"
    return default_source, copies


def _refuse_unknown_keys(mapping: dict[str, t.Any], known: t.AbstractSet[str], where: str, problems: list[str]) -> None:
    """A key the plan's schema does not have is a problem (a misspelt key is never silently dropped)."""
    unknown = sorted(map(str, set(mapping) - known))
    if unknown:
        problems.append(f"{where} has unknown key(s) {', '.join(unknown)}; the keys are {', '.join(sorted(known))}")


def _hook(hook: t.Any, where: str, default_host: str | None, problems: list[str]) -> dict[str, t.Any] | None:
    """One hook checked and with its defaults (name, timeout, host, check_safe), or None after a problem."""
    if not isinstance(hook, dict):
        problems.append(f"{where} must be a mapping with command (an argument list) or tasks (a task file)")
        return None
    found = len(problems)
    _refuse_unknown_keys(hook, HOOK_KEYS, where, problems)
    command, tasks = hook.get("command"), hook.get("tasks")
    if (command is None) == (tasks is None):
        problems.append(f"{where} needs exactly one of command (an argument list) or tasks (a task file)")
    if isinstance(command, str):
        problems.append(
            f"{where}.command is the string {command!r}; write it as a list of arguments "
            f"(command: {command.split()!r}): hooks never run through a shell"
        )
    elif command is not None and (
        not isinstance(command, list) or not command
        or any(isinstance(part, bool) or not isinstance(part, (str, int, float)) for part in command)
    ):
        problems.append(f"{where}.command must be a non-empty list of arguments (strings), like [systemctl, stop, app]")
    if tasks is not None and (not isinstance(tasks, str) or not tasks.strip()):
        problems.append(f"{where}.tasks must be the path of a task file, like hooks/pause-writes.yml")
    chdir = hook.get("chdir")
    if chdir is not None and (tasks is not None or not isinstance(chdir, str) or not chdir):
        problems.append(f"{where}.chdir must be a directory (a string), and only goes with command")
    for key in ("name", "host"):
        if hook.get(key) is not None and (not isinstance(hook[key], str) or not hook[key].strip()):
            problems.append(f"{where}.{key} must be a non-empty string")
    check_safe = hook.get("check_safe", False)
    if not isinstance(check_safe, bool):
        problems.append(f"{where}.check_safe is {check_safe!r}; write true or false")
    timeout = hook.get("timeout", HOOK_TIMEOUT)
    if isinstance(timeout, bool):
        problems.append(f"{where}.timeout is {timeout!r}; give seconds (300) or a duration (5m)")
    else:
        timeout = _seconds(timeout, f"{where}.timeout", problems)
        if timeout is not None and timeout <= 0:
            problems.append(f"{where}.timeout must be more than 0 seconds")
    if len(problems) > found:
        return None
    argv = [str(part) for part in command] if command is not None else None
    return {
        "name": hook.get("name") or (" ".join(argv) if argv else str(tasks)),
        "kind": "command" if argv else "tasks",
        "command": argv,
        "chdir": chdir,
        "tasks": tasks,
        "timeout": timeout,
        "host": hook.get("host") or default_host,
        "check_safe": check_safe,
    }


def hooks(value: t.Any, where: str, default_host: str | None, problems: list[str]) -> dict[str, list[dict[str, t.Any]]]:
    """A backup.hooks mapping checked, each hook with its defaults: {"pre": [...], "post": [...]}.

    where names the mapping in messages (dr_plan.backup.hooks, component orders-db backup.hooks); default_host
    is the host a hook without `host` runs on (None: the host the play runs on, the controller).
    """
    resolved: dict[str, list[dict[str, t.Any]]] = {stage: [] for stage in HOOK_STAGES}
    if value is None:
        return resolved
    if not isinstance(value, dict):
        problems.append(f"{where} must be a mapping with pre and/or post (lists of hooks)")
        return resolved
    unknown = sorted(set(value) - set(HOOK_STAGES))
    if unknown:
        problems.append(f"{where} has unknown key(s) {', '.join(map(str, unknown))}; the keys are pre and post")
    for stage in HOOK_STAGES:
        items = value.get(stage)
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(f"{where}.{stage} must be a list of hooks (each with command or tasks)")
            continue
        for position, item in enumerate(items, start=1):
            hook = _hook(item, f"{where}.{stage}[{position}]", default_host, problems)
            if hook is not None:
                resolved[stage].append(hook)
    return resolved


def _check_hooks(plan: dict[str, t.Any], problems: list[str]) -> None:
    """backup.hooks of the plan, of each component, and of each site's component overrides."""
    backup = plan.get("backup")
    if backup is not None:
        if not isinstance(backup, dict):
            problems.append("dr_plan.backup must be a mapping (hooks)")
        else:
            _refuse_unknown_keys(backup, PLAN_BACKUP_KEYS, "dr_plan.backup", problems)
            hooks(backup.get("hooks"), "dr_plan.backup.hooks", None, problems)
    for site, component in _component_places(plan):
        backup = component.get("backup")
        if isinstance(backup, dict) and "hooks" in backup:
            where = f"component {component.get('name')} backup.hooks"
            hooks(backup["hooks"], f"site {site} {where}" if site else where, None, problems)


def _component_places(plan: dict[str, t.Any]) -> list[tuple[str, dict[str, t.Any]]]:
    """Every component mapping of the plan with its site: ("", component) for the plan's own, (site, override
    with its name) for each site's component overrides."""
    places = [("", component) for component in plan.get("components") or [] if isinstance(component, dict)]
    for site, settings in (plan.get("sites") or {}).items():
        for name, override in (((settings or {}).get("components") or {}).items()):
            if isinstance(override, dict):
                places.append((site, dict(override, name=name)))
    return places


def _check_schedule(value: t.Any, where: str, problems: list[str]) -> None:
    """A schedule is a systemd calendar expression on one line; systemd itself checks the expression."""
    if value is None:
        return
    if not isinstance(value, str) or not value.strip() or any(ord(character) < 32 or ord(character) == 127
                                                              for character in value):
        problems.append(f"{where} is {value!r}; give a systemd calendar expression on one line, like daily, hourly, "
                        "*:0/15 (every 15 minutes) or Mon..Fri *-*-* 02:00:00")


def _check_schedules(plan: dict[str, t.Any], problems: list[str]) -> None:
    """The plan's <job>_schedule keys and backup.schedule of each component and of each site's overrides."""
    for job in PLAN_SCHEDULES:
        _check_schedule(plan.get(f"{job}_schedule"), f"dr_plan.{job}_schedule", problems)
    for site, component in _component_places(plan):
        backup = component.get("backup")
        if isinstance(backup, dict):
            where = f"component {component.get('name')} backup.schedule"
            _check_schedule(backup.get("schedule"), f"site {site} {where}" if site else where, problems)


def schedules(plan: dict[str, t.Any], components: dict[str, dict[str, t.Any]]) -> dict[str, t.Any]:
    """When the plan's scheduled jobs run, from the plan and its resolved components.

    backup: one run per distinct backup.schedule, in plan order of first use, with the components it backs
    up ({"schedule", "components"}); components sharing a schedule share a run, s3 components (whose
    object versions are their backups) are in none. restore_test and rpo_check: the plan's
    restore_test_schedule and rpo_check_schedule, or their defaults.
    """
    runs: dict[str, list[str]] = {}
    for name, component in components.items():
        if component.get("kind") in SCHEDULED_BACKUP_KINDS:
            runs.setdefault(component["backup"]["schedule"], []).append(name)
    resolved: dict[str, t.Any] = {
        "backup": [{"schedule": schedule, "components": names} for schedule, names in runs.items()],
    }
    for job in ("restore_test", "rpo_check"):
        resolved[job] = plan.get(f"{job}_schedule") or PLAN_SCHEDULES[job]
    return resolved


def site_repository(plan: dict[str, t.Any], site: str) -> dict[str, t.Any]:
    """The repository of site as module options: the plan's, with the site's `repository` merged over it."""
    settings = (plan.get("sites") or {}).get(site) or {}
    merged = _merge(plan.get("repository") or {}, settings.get("repository") or {})
    options = {"repository": merged.pop("location", None)}
    options.update({key: value for key, value in merged.items() if value not in (None, "", [])})
    return options


def repository_place(options: dict[str, t.Any]) -> tuple[str, str, str]:
    """Where a repository keeps its backups, to tell whether two sites share one place."""
    location = str(options.get("repository") or "").rstrip("/")
    if not location.startswith("s3://"):
        return (location, "", "")
    return (location, str(options.get("endpoint_url") or ""), str(options.get("region") or ""))


def copy_sites(plan: dict[str, t.Any], site: str) -> list[str]:
    """The other sites whose repository is another place: backups taken on site are copied there."""
    own = repository_place(site_repository(plan, site))
    return [other for other in plan.get("sites") or {}
            if other != site and repository_place(site_repository(plan, other)) != own]


def _one_place(plan: dict[str, t.Any]) -> bool:
    """Whether a plan with several sites keeps every site's backups in the same place."""
    sites = list(plan.get("sites") or {})
    return len(sites) > 1 and not copy_sites(plan, sites[0])


def _validate_repositories(plan: dict[str, t.Any], problems: list[str]) -> None:
    sites = plan.get("sites") or {}
    mappings = [("dr_plan.repository", plan.get("repository"))]
    mappings += [(f"site {site} repository", (settings or {}).get("repository")) for site, settings in sites.items()]
    for where, mapping in mappings:
        if mapping is None:
            continue
        if not isinstance(mapping, dict):
            problems.append(f"{where} must be a mapping (location and repository options)")
            continue
        _refuse_unknown_keys(mapping, REPOSITORY_KEYS, where, problems)
    if not any(component.get("kind") in REPOSITORY_KINDS for component in plan.get("components") or [] if isinstance(component, dict)):
        return
    if not sites:
        if not (plan.get("repository") or {}).get("location"):
            problems.append("dr_plan.repository.location is required: postgresql, redis and files components back up into it")
        return
    missing = [site for site in sites if not site_repository(plan, site)["repository"]]
    if missing:
        problems.append(
            "dr_plan.repository.location is required: postgresql, redis and files components back up into it "
            f"(no location for site(s) {', '.join(missing)}; set dr_plan.repository.location or sites.<site>.repository.location)"
        )
        return
    accepted = plan.get("single_repository")
    if accepted not in (None, "accepted"):
        problems.append(f"dr_plan.single_repository is {accepted!r}; the only value is accepted (with single_repository_reason)")
    elif accepted == "accepted" and not str(plan.get("single_repository_reason") or "").strip():
        problems.append("dr_plan.single_repository: accepted needs single_repository_reason (why losing one site may lose every backup)")
    elif accepted is None and _one_place(plan):
        problems.append(
            "every site keeps its backups in one repository, which a loss of that place takes with it: give each "
            "site its own with sites.<site>.repository (another directory, bucket, region or endpoint), or say "
            "single_repository: accepted with single_repository_reason"
        )


def warnings(plan: dict[str, t.Any]) -> list[str]:
    """What a valid plan accepts knowingly, to show where it is used (plan_validate, the plan document)."""
    if plan.get("single_repository") == "accepted" and _one_place(plan):
        return [f"every site keeps its backups in one repository (single_repository: accepted, because: "
                f"{plan.get('single_repository_reason')})"]
    return []


def _check_restore_test(plan: dict[str, t.Any], problems: list[str]) -> None:
    """restore_test of the plan and of each component: a mapping of known keys."""
    places = [("dr_plan.restore_test", plan.get("restore_test"))]
    places += [(f"component {component.get('name')} restore_test", component.get("restore_test"))
               for component in plan.get("components") or [] if isinstance(component, dict)]
    for where, settings in places:
        if settings is None:
            continue
        if not isinstance(settings, dict):
            problems.append(f"{where} must be a mapping ({', '.join(sorted(RESTORE_TEST_KEYS))})")
            continue
        _refuse_unknown_keys(settings, RESTORE_TEST_KEYS, where, problems)
        server = settings.get("server")
        if server is not None and not isinstance(server, dict):
            problems.append(f"{where}.server must be a mapping ({', '.join(sorted(RESTORE_TEST_SERVER_KEYS))})")
        elif server:
            _refuse_unknown_keys(server, RESTORE_TEST_SERVER_KEYS, f"{where}.server", problems)


def validate(plan: dict[str, t.Any]) -> list[str]:
    """Every semantic problem of the plan (an empty list means it is usable)."""
    problems: list[str] = []
    if not isinstance(plan, dict):
        return ["dr_plan must be a dictionary"]
    if not plan.get("name"):
        problems.append("dr_plan has no name (the application's name, used in reports and backups)")
    components = plan.get("components") or []
    if not components:
        problems.append("dr_plan lists no components")
    names = _names(components, "component", problems)
    services = plan.get("services") or []
    service_names = _names(services, "service", problems)
    for name in set(names) & set(service_names):
        problems.append(f"{name} is both a component and a service; give them different names")

    _validate_repositories(plan, problems)
    _check_hooks(plan, problems)
    _check_restore_test(plan, problems)
    _check_schedules(plan, problems)

    graph: dict[str, list[str]] = {}
    for component in components:
        name = component.get("name")
        if not name:
            continue
        if not COMPONENT_PATTERN.match(name):
            problems.append(f"component {name!r} is not a valid name (letters, digits, '.', '_', '-')")
        kind = component.get("kind")
        if kind not in KINDS:
            problems.append(f"component {name} has kind {kind!r}; use one of {', '.join(KINDS)}")
            continue
        backup = component.get("backup")
        if not isinstance(backup, dict):
            problems.append(f"component {name} has no backup: every component needs one (backup.method: {'|'.join(BACKUP_METHODS[kind])})")
        elif backup.get("method") not in BACKUP_METHODS[kind]:
            problems.append(
                f"component {name} ({kind}) has backup method {backup.get('method')!r}; use one of {', '.join(BACKUP_METHODS[kind])}"
            )
        for key in ("rpo", "rto"):
            _seconds(component.get(key), f"component {name} {key}", problems)
        restore = component.get("restore") or {}
        parallel = restore.get("parallel", True) if isinstance(restore, dict) else True
        if not isinstance(parallel, bool):
            problems.append(f"component {name} has restore.parallel {parallel!r}; write true or false")
        if kind == "rds":
            _check_rds(component, plan.get("sites") or {}, problems)
        _check_standby(plan, component, problems)
        dependencies = component.get("depends_on") or []
        for dependency in dependencies:
            if dependency not in names:
                problems.append(f"component {name} depends on {dependency}, which is not a component of the plan")
        graph[name] = [dependency for dependency in dependencies if dependency in names]
    cycle = find_cycle(graph)
    if cycle:
        problems.append(f"components depend on each other in a cycle: {' -> '.join(cycle)}")

    service_graph: dict[str, list[str]] = {}
    for service in services:
        name = service.get("name")
        if not name:
            continue
        if not (service.get("start_command") or service.get("systemd_unit")):
            problems.append(f"service {name} has neither start_command nor systemd_unit")
        for needed in service.get("requires") or []:
            if needed not in names:
                problems.append(f"service {name} requires {needed}, which is not a component of the plan")
        for after in service.get("after") or []:
            if after not in service_names:
                problems.append(f"service {name} starts after {after}, which is not a service of the plan")
        service_graph[name] = [after for after in service.get("after") or [] if after in service_names]
    cycle = find_cycle(service_graph)
    if cycle:
        problems.append(f"services start after each other in a cycle: {' -> '.join(cycle)}")

    sites = plan.get("sites") or {}
    if "primary" not in sites:
        problems.append("dr_plan.sites has no primary site")
    for site, settings in sites.items():
        for name in (settings or {}).get("components") or {}:
            if name not in names:
                problems.append(f"site {site} overrides component {name}, which is not a component of the plan")
        for name in (settings or {}).get("services") or {}:
            if name not in service_names:
                problems.append(f"site {site} overrides service {name}, which is not a service of the plan")

    dns = plan.get("dns")
    if dns:
        if dns.get("provider") not in ("rfc2136", "route53"):
            problems.append(f"dr_plan.dns.provider {dns.get('provider')!r} is not rfc2136 or route53")
        for position, record in enumerate(dns.get("records") or [], start=1):
            label = record.get("record") or f"record {position}"
            values = record.get("values") or {}
            for site in sites:
                if site not in values and not (sites[site] or {}).get("address"):
                    problems.append(f"dns record {label} has no value for site {site} (values.{site}, or the site's address)")
    for position, hook in enumerate(plan.get("notifications") or [], start=1):
        if hook.get("type") not in ("webhook", "slack", "email"):
            problems.append(f"notification {position} has type {hook.get('type')!r}; use webhook, slack or email")
    return problems


def resolve(plan: dict[str, t.Any], site: str = "primary") -> dict[str, t.Any]:
    """The plan as one site sees it; raises PlanError listing every problem."""
    problems = validate(plan)
    sites = plan.get("sites") or {}
    if not problems and site not in sites:
        problems.append(f"site {site} is not in dr_plan.sites ({', '.join(sites)})")
    if problems:
        raise PlanError(problems)
    settings = sites[site] or {}
    site_services = settings.get("services") or {}

    components: dict[str, dict[str, t.Any]] = {}
    order = []
    graph: dict[str, list[str]] = {}
    for component in plan["components"]:
        name = component["name"]
        resolved = site_component(plan, site, component)
        resolved.setdefault("connection", {})
        resolved.setdefault("depends_on", [])
        resolved["rpo_seconds"] = _seconds(resolved.get("rpo"), name, [])
        resolved["rto_seconds"] = _seconds(resolved.get("rto"), name, [])
        resolved["host"] = resolved.get("host") or "localhost"
        resolved["restore_test"] = {**(plan.get("restore_test") or {}), **(resolved.get("restore_test") or {})}
        resolved["backup"] = dict(resolved.get("backup") or {})
        resolved["backup"]["hooks"] = hooks(resolved["backup"].get("hooks"), f"component {name} backup.hooks",
                                            resolved["host"], [])
        resolved["backup"]["schedule"] = (resolved["backup"].get("schedule") or plan.get("backup_schedule")
                                          or PLAN_SCHEDULES["backup"])
        if resolved.get("kind") == "rds":
            default_source, resolved["copies"] = rds_sources(plan, site, resolved)
            resolved["restore"] = dict(resolved.get("restore") or {})
            resolved["restore"].setdefault("source", default_source)
        components[name] = resolved
        order.append(name)
        graph[name] = list(resolved["depends_on"])

    services: dict[str, dict[str, t.Any]] = {}
    service_graph: dict[str, list[str]] = {}
    for service in plan.get("services") or []:
        resolved = _merge(service, site_services.get(service["name"]) or {})
        resolved.setdefault("requires", [])
        resolved.setdefault("after", [])
        resolved["host"] = resolved.get("host") or "localhost"
        services[service["name"]] = resolved
        service_graph[service["name"]] = list(resolved["after"])

    dependants: dict[str, dict[str, list[str]]] = {name: {"components": [], "services": []} for name in components}
    for name, component in components.items():
        for dependency in component["depends_on"]:
            dependants[dependency]["components"].append(name)
    for name, service in services.items():
        for needed in service["requires"]:
            dependants[needed]["services"].append(name)

    restore_batches = batches(graph, order)
    dns_records = []
    for record in (plan.get("dns") or {}).get("records") or []:
        values = record.get("values") or {}
        resolved_record = dict(record)
        resolved_record["site_values"] = {
            name: values.get(name) or [(sites[name] or {}).get("address")] for name in sites
        }
        dns_records.append(resolved_record)

    return {
        "name": plan["name"],
        "site": site,
        "repository": site_repository(plan, site),
        "repositories": {name: site_repository(plan, name) for name in sites},
        "copy_to": copy_sites(plan, site),
        "standbys": standbys(plan, site),
        "backup": {"hooks": hooks((plan.get("backup") or {}).get("hooks"), "dr_plan.backup.hooks", None, [])},
        "warnings": warnings(plan),
        "address": settings.get("address"),
        "components": components,
        "schedules": schedules(plan, components),
        "restore_batches": restore_batches,
        "restore_steps": restore_steps(restore_batches, components),
        "services": services,
        "service_batches": batches(service_graph, list(services)),
        "dependants": dependants,
        "dns_records": dns_records,
    }


def redact(value: t.Any) -> t.Any:
    """A copy of a (resolved) plan, or any part of it, with every secret replaced by REDACTED."""
    if isinstance(value, dict):
        return {
            key: REDACTED if (key in SECRET_KEYS or key in SECRET_CONTAINERS) and value[key] not in (None, "")
            else redact(value[key])
            for key in value
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return copy.deepcopy(value)


def _only_secrets(value: t.Any) -> t.Any:
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if key in SECRET_KEYS or key in SECRET_CONTAINERS:
                if item not in (None, ""):
                    kept[key] = copy.deepcopy(item)
                continue
            inner = _only_secrets(item)
            if inner:
                kept[key] = inner
        return kept
    return None


def secrets(plan: dict[str, t.Any], site: str = "primary") -> dict[str, t.Any]:
    """Only the secrets of the plan resolved for site, where resolve puts them.

    Read them at the point of use: secrets(plan, site)["components"][name]["connection"]["login_password"],
    secrets(plan, site)["repository"]["secret_key"]. Raises PlanError like resolve.
    """
    return _only_secrets(resolve(plan, site)) or {}


def undefined_variable(value: t.Any) -> str | None:
    """The name of the variable an undefined-marker stands for (None for any other value)."""
    if isinstance(value, str) and value.startswith(UNDEFINED_MARKER):
        return value[len(UNDEFINED_MARKER):]
    return None


def _markers(value: t.Any, path: tuple[t.Any, ...], in_secret: bool) -> t.Iterator[tuple[tuple[t.Any, ...], bool, str]]:
    """Each undefined-marker under value: its path, whether it sits in a secret, the variable's name."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _markers(item, path + (key,), in_secret or key in SECRET_KEYS or key in SECRET_CONTAINERS)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _markers(item, path + (index,), in_secret)
    else:
        name = undefined_variable(value)
        if name is not None:
            yield path, in_secret, name


def _part(plan: dict[str, t.Any], site: str, path: tuple[t.Any, ...]) -> tuple[str, str | None]:
    """Which part of the plan a path is in - (part, component name) - for a run on site; part "" is another
    site's setting, which this run never reads, and part "plan" a setting every run reads."""
    if path[0] == "sites":
        if len(path) < 2 or path[1] != site:
            return "", None
        path = path[2:]
        if path[:1] == ("components",) and len(path) > 1:
            return "components", str(path[1])
    elif path[0] == "components" and len(path) > 1:
        components = plan.get("components") or []
        item = components[path[1]] if isinstance(path[1], int) and path[1] < len(components) else {}
        return "components", str(item.get("name")) if isinstance(item, dict) else None
    elif path[0] == "notifications":
        return "notifications", None
    if path and path[0] in ("repository", "dns", "security", "restore_test"):
        return str(path[0]), None
    return "plan", None


def _overridden(plan: dict[str, t.Any], site: str, part: str, owner: str | None, path: tuple[t.Any, ...]) -> bool:
    """Whether site replaces the plan-level value at path (a component's or the repository's) with its own."""
    settings = (plan.get("sites") or {}).get(site) or {}
    if part == "components" and path[0] == "components":
        value, steps = (settings.get("components") or {}).get(owner), path[2:]
    elif part == "repository" and path[0] == "repository":
        value, steps = settings.get("repository"), path[1:]
    else:
        return False
    for step in steps:
        if not isinstance(value, dict) or step not in value:
            return False
        value = value[step]
    return value is not None


def undefined_needed(plan: t.Any, site: str = "primary", components: t.Collection[str] | None = None,
                     uses: t.Iterable[str] = PLAN_PARTS) -> list[str]:
    """A problem for each undefined variable of the plan that a run on site needs.

    The run needs every secret of the parts it uses (uses: PLAN_PARTS; of the components, those named in
    components alone, every one when it is None or empty) and every value outside a secret, which checking and
    ordering the plan read.
    """
    if not isinstance(plan, dict):
        return []
    used = set(uses)
    problems = []
    for path, in_secret, name in _markers(plan, (), False):
        part, owner = _part(plan, site, path)
        # A Slack or webhook URL is itself the credential (as in secret_values).
        in_secret = in_secret or (part == "notifications" and path[-1] == "url")
        if in_secret and _overridden(plan, site, part, owner, path):
            continue
        where = ".".join(str(step) for step in path)
        if path[0] == "components" and owner:
            where = ".".join((f"components[{owner}]",) + tuple(str(step) for step in path[2:]))
        if not in_secret and part:
            problems.append(f"{where} is the variable {name}, which is not defined; define it (every value of the plan "
                            "outside its secrets is read on every run)")
        elif part == "plan" or (part in used and (part != "components" or not components or owner in components)):
            subject = f"component {owner}" if owner else f"the plan's {part}" if part != "plan" else "the plan"
            problems.append(f"{subject} needs the variable {name} ({where}), which is not defined; define it, for "
                            "example in a vault file given with -e @secrets.yml --ask-vault-password")
    return problems


def secret_values(plan: t.Any) -> set[str]:
    """Every secret string of a raw plan (anywhere in it, notification URLs included), to mask in output."""
    found: set[str] = set()

    def leaves(value: t.Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                leaves(item)
        elif isinstance(value, list):
            for item in value:
                leaves(item)
        elif value not in (None, "") and not isinstance(value, bool) and undefined_variable(value) is None:
            found.add(str(value))

    def walk(value: t.Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in SECRET_KEYS or key in SECRET_CONTAINERS:
                    leaves(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(plan)
    if isinstance(plan, dict):
        for hook in plan.get("notifications") or []:
            # A Slack or webhook URL is itself the credential that lets anyone post.
            if (isinstance(hook, dict) and hook.get("type") in ("webhook", "slack") and hook.get("url")
                    and undefined_variable(hook["url"]) is None):
                found.add(str(hook["url"]))
    return found
