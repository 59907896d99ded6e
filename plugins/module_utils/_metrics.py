# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus textfile the scheduled playbooks write (docs/monitoring.md).

node_exporter's textfile collector reads every `*.prom` file of one directory.
The backup, rpo_check and restore_test playbooks share one file: each writes
the metrics it measures and keeps the others' as they were (a metric given
here replaces every sample of that metric in the file; a metric not given is
kept). The file is rendered and written by prometheus_client, whose
write_to_textfile writes a temporary file beside it and renames it, so
node_exporter never reads half a file.
"""

from __future__ import annotations

import math
import os
import re
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DependencyMissing, RepositoryError

try:
    from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # reported when the file is written
    HAS_PROMETHEUS_CLIENT = False
else:
    HAS_PROMETHEUS_CLIENT = True

# name -> (help text, label names). Every value is a gauge.
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "resilience_dr_backup_age_seconds": (
        "Seconds since the newest verified backup of the component in the site's repository finished "
        "(+Inf when there is none).",
        ("component", "site"),
    ),
    "resilience_dr_rpo_target_seconds": (
        "The component's recovery point objective (rpo in the DR plan), in seconds.",
        ("component",),
    ),
    "resilience_dr_backup_size_bytes": (
        "Bytes stored for the newest verified backup of the component in the serving site's repository.",
        ("component",),
    ),
    "resilience_dr_restore_test_success": (
        "1 when the last restore test of the component passed, 0 when it failed.",
        ("component",),
    ),
    "resilience_dr_restore_test_duration_seconds": (
        "Seconds the last restore test of the component took.",
        ("component",),
    ),
}
TEXTFILE_MODE = 0o644
NAME_PATTERN = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def require_prometheus_client() -> None:
    if not HAS_PROMETHEUS_CLIENT:
        raise DependencyMissing(
            "the Python library prometheus-client is required to write the metrics file but is not installed "
            "for the Python that runs this module; install it there (pip install prometheus-client)"
        )


def _as_number(value: object) -> float | None:
    """The value as float() reads it (a number or a numeric string), or None for anything else."""
    if not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def check_samples(samples: t.Sequence[t.Mapping[str, t.Any]]) -> list[tuple[str, dict[str, str], float]]:
    """The samples as (metric, labels, value), or a ConfigurationError naming each bad one."""
    problems, checked = [], []
    for position, sample in enumerate(samples, start=1):
        metric = sample.get("metric")
        labels = {str(key): str(value) for key, value in (sample.get("labels") or {}).items()}
        where = f"sample {position} ({metric})"
        if metric not in METRICS:
            problems.append(f"sample {position} has metric {metric!r}; the metrics are {', '.join(sorted(METRICS))}")
            continue
        wanted = METRICS[metric][1]
        if sorted(labels) != sorted(wanted):
            problems.append(f"{where} has labels {', '.join(sorted(labels)) or 'none'}; it needs exactly {', '.join(wanted)}")
            continue
        value = sample.get("value")
        number = _as_number(value)
        if number is None:
            problems.append(f"{where} has value {value!r}, which is not a number")
            continue
        if math.isnan(number):
            problems.append(f"{where} has no value (NaN); leave the sample out instead")
            continue
        checked.append((metric, labels, number))
    if problems:
        raise ConfigurationError("the metrics are not usable: " + "; ".join(problems), problems=problems)
    return checked


class _Families:
    """A collector that gives fixed metric families, sorted by name, so the same data renders the same text."""

    def __init__(self, families: t.Sequence[t.Any]) -> None:
        self._families = sorted(families, key=lambda family: family.name)

    def collect(self) -> t.Iterator[t.Any]:
        return iter(self._families)


def _kept_families(existing: str, replaced: set[str], path: str) -> list[t.Any]:
    try:
        families = list(text_string_to_metric_families(existing))
    except ValueError as error:
        raise RepositoryError(
            f"the metrics file {path} is not in the Prometheus text format ({error}); move it away or delete it "
            f"and run the playbook again"
        ) from None
    return [family for family in families if family.name not in replaced]


def registry_for(samples: t.Sequence[tuple[str, dict[str, str], float]], existing: str = "", path: str = "") -> t.Any:
    """A registry with the given metrics and the metrics of existing text that were not given."""
    require_prometheus_client()
    families: dict[str, t.Any] = {}
    for metric, labels, value in samples:
        help_text, names = METRICS[metric]
        family = families.setdefault(metric, GaugeMetricFamily(metric, help_text, labels=list(names)))
        family.add_metric([labels[name] for name in names], value)
    for family in families.values():
        family.samples.sort(key=lambda sample: sorted(sample.labels.items()))
    kept = _kept_families(existing, set(families), path) if existing else []
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families.values()) + kept))
    return registry


def write_metrics(path: str, samples: t.Sequence[t.Mapping[str, t.Any]], check_mode: bool = False) -> dict[str, t.Any]:
    """Write the samples into the textfile at path, keeping its other metrics; changed only when the text differs."""
    checked = check_samples(samples)
    require_prometheus_client()
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigurationError(
            f"the directory of the metrics file {path} does not exist; create it (node_exporter's "
            f"--collector.textfile.directory) or give another dr_metrics_file"
        )
    if not path.endswith(".prom"):
        raise ConfigurationError(f"the metrics file {path} must end in .prom: node_exporter reads only *.prom files")
    existing = ""
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as handle:
                existing = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            raise RepositoryError(f"cannot read the metrics file {path}: {error}") from None
    registry = registry_for(checked, existing, path)
    text = generate_latest(registry).decode("utf-8")
    changed = text != existing
    metrics = sorted({metric for metric, _labels, _value in checked})
    if changed and not check_mode:
        try:
            write_to_textfile(path, registry)
            # Readable by node_exporter, which runs as its own user; it holds no secret.
            os.chmod(path, TEXTFILE_MODE)
        except OSError as error:
            raise RepositoryError(f"cannot write the metrics file {path}: {error}") from None
    return {"changed": changed, "path": path, "metrics": metrics, "samples": len(checked)}
