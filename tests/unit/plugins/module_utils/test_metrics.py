# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import math
import os
import stat

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, RepositoryError
from ansible_collections.resilience.dr.plugins.module_utils._metrics import write_metrics

AGES = [
    {"metric": "resilience_dr_backup_age_seconds", "labels": {"component": "orders-db", "site": "primary"}, "value": 812},
    {"metric": "resilience_dr_backup_age_seconds", "labels": {"component": "orders-db", "site": "secondary"}, "value": "+Inf"},
    {"metric": "resilience_dr_rpo_target_seconds", "labels": {"component": "orders-db"}, "value": 900},
]
RESTORE_TEST = [
    {"metric": "resilience_dr_restore_test_success", "labels": {"component": "orders-db"}, "value": 1},
    {"metric": "resilience_dr_restore_test_duration_seconds", "labels": {"component": "orders-db"}, "value": 41.5},
]


def parsed(path) -> dict[tuple[str, tuple], float]:
    """Every sample of the file, read with Prometheus' own text format parser."""
    with open(path, encoding="utf-8") as handle:
        families = list(text_string_to_metric_families(handle.read()))
    assert all(family.type == "gauge" for family in families)
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in families for sample in family.samples}


def test_write_metrics_writes_a_file_prometheus_parses(tmp_path):
    path = tmp_path / "resilience_dr.prom"
    result = write_metrics(str(path), AGES)
    assert result["changed"] and result["samples"] == 3
    samples = parsed(path)
    assert samples[("resilience_dr_backup_age_seconds", (("component", "orders-db"), ("site", "primary")))] == 812
    assert math.isinf(samples[("resilience_dr_backup_age_seconds", (("component", "orders-db"), ("site", "secondary")))])
    assert samples[("resilience_dr_rpo_target_seconds", (("component", "orders-db"),))] == 900
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(tmp_path) == ["resilience_dr.prom"]  # no temporary file left behind


def test_write_metrics_is_unchanged_when_the_values_are_the_same(tmp_path):
    path = tmp_path / "resilience_dr.prom"
    write_metrics(str(path), AGES)
    before = os.stat(path).st_mtime_ns
    assert not write_metrics(str(path), list(reversed(AGES)))["changed"]
    assert not write_metrics(str(path), AGES, check_mode=True)["changed"]
    assert os.stat(path).st_mtime_ns == before


def test_check_mode_says_it_would_change_and_writes_nothing(tmp_path):
    path = tmp_path / "resilience_dr.prom"
    assert write_metrics(str(path), AGES, check_mode=True)["changed"]
    assert not path.exists()
    write_metrics(str(path), AGES)
    text = path.read_text()
    assert write_metrics(str(path), [dict(AGES[0], value=900)], check_mode=True)["changed"]
    assert path.read_text() == text


def test_one_playbook_keeps_the_metrics_another_wrote(tmp_path):
    path = tmp_path / "resilience_dr.prom"
    write_metrics(str(path), RESTORE_TEST)
    write_metrics(str(path), AGES)
    # the ages are written again with one site less: the metric is replaced as a whole, restore tests stay
    write_metrics(str(path), [AGES[0], AGES[2]])
    samples = parsed(path)
    assert samples[("resilience_dr_restore_test_success", (("component", "orders-db"),))] == 1
    assert samples[("resilience_dr_restore_test_duration_seconds", (("component", "orders-db"),))] == 41.5
    assert ("resilience_dr_backup_age_seconds", (("component", "orders-db"), ("site", "secondary"))) not in samples
    assert samples[("resilience_dr_backup_age_seconds", (("component", "orders-db"), ("site", "primary")))] == 812


@pytest.mark.parametrize("sample, message", [
    ({"metric": "resilience_dr_backup_agе", "labels": {}, "value": 1}, r"sample 1 has metric .*; the metrics are resilience_dr_backup_age_seconds"),
    ({"metric": "resilience_dr_backup_age_seconds", "labels": {"component": "a"}, "value": 1},
     r"sample 1 \(resilience_dr_backup_age_seconds\) has labels component; it needs exactly component, site"),
    ({"metric": "resilience_dr_rpo_target_seconds", "labels": {"component": "a"}, "value": "soon"},
     r"sample 1 \(resilience_dr_rpo_target_seconds\) has value 'soon', which is not a number"),
])
def test_bad_samples_are_refused_naming_the_sample(tmp_path, sample, message):
    path = tmp_path / "resilience_dr.prom"
    with pytest.raises(ConfigurationError, match=message):
        write_metrics(str(path), [sample])
    assert not path.exists()


def test_a_missing_directory_or_another_suffix_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match=r"the directory of the metrics file .*/missing/dr.prom does not exist"):
        write_metrics(str(tmp_path / "missing" / "dr.prom"), AGES)
    with pytest.raises(ConfigurationError, match=r"must end in .prom"):
        write_metrics(str(tmp_path / "dr.txt"), AGES)


def test_a_file_that_is_not_prometheus_text_is_left_alone(tmp_path):
    path = tmp_path / "resilience_dr.prom"
    path.write_text("this is { not metrics\n")
    with pytest.raises(RepositoryError, match=r"is not in the Prometheus text format.*move it away"):
        write_metrics(str(path), AGES)
    assert path.read_text() == "this is { not metrics\n"
