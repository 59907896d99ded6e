# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Orders of a DR plan: dependency cycles, restore batches, and the steps restored at the same time.

Components restore in batches whose members do not depend on each other;
the recovery playbooks restore a batch in steps, and the components of one
step at the same time, so two components whose restores write to the same
server, path, bucket or instance are never in one step.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError


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
                str(connection.get("db_instance_identifier") or connection.get("db_cluster_identifier") or ""))
    if kind == "elasticache":
        return ("elasticache", str(connection.get("endpoint_url") or ""), str(connection.get("region") or ""),
                str((component.get("restore") or {}).get("target_id") or ""))
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
