# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._repository.manifest import (
    BACKUP_ID_PATTERN,
    FileRecord,
    Manifest,
    ManifestError,
    check_component,
    new_backup_id,
)

SHA = "a" * 64


def sample() -> Manifest:
    return Manifest(
        backup_id="20261123T040000Z-k3f9ab", component="orders-db", kind="postgresql", method="logical",
        started_at="2026-11-23T04:00:00Z", finished_at="2026-11-23T04:05:00Z", host="db1",
        files=[FileRecord("data/toc.dat", "data/toc.dat.zst", 10, SHA, 20, SHA, False)],
        consistency_point={"time": "2026-11-23T04:00:01Z", "lsn": "0/3000060"},
    )


def test_manifest_round_trips():
    manifest = sample()
    again = Manifest.from_json(manifest.to_json(), "m")
    assert again == manifest
    assert again.consistency_time == datetime(2026, 11, 23, 4, 0, 1, tzinfo=timezone.utc)


def test_truncated_manifest_is_named_unreadable():
    raw = sample().to_json()
    with pytest.raises(ManifestError, match=r"the manifest /r/orders-db/x/manifest.json is unreadable \(truncated or damaged\?\)"):
        Manifest.from_json(raw[: len(raw) // 2], "/r/orders-db/x/manifest.json")


def test_manifest_of_a_newer_format_asks_for_an_upgrade():
    data = json.loads(sample().to_json())
    data["format_version"] = 2
    with pytest.raises(ManifestError, match="upgrade resilience.dr"):
        Manifest.from_json(json.dumps(data).encode(), "m")


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "data/../../x", "a//b"])
def test_file_paths_that_leave_the_backup_are_refused(path):
    data = json.loads(sample().to_json())
    data["files"][0]["path"] = path
    with pytest.raises(ManifestError, match="invalid"):
        Manifest.from_json(json.dumps(data).encode(), "m")


def test_missing_field_is_named():
    data = json.loads(sample().to_json())
    del data["files"][0]["sha256"]
    with pytest.raises(ManifestError, match="missing field 'sha256'"):
        Manifest.from_json(json.dumps(data).encode(), "m")


def test_backup_ids_sort_by_time():
    first = new_backup_id(datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc))
    second = new_backup_id(datetime(2026, 11, 23, 4, 0, 1, tzinfo=timezone.utc))
    assert BACKUP_ID_PATTERN.match(first) and first < second


@pytest.mark.parametrize("name", ["", "../x", "a/b", "-x", "x" * 129])
def test_bad_component_names_are_refused(name):
    with pytest.raises(ConfigurationError, match="not a valid component name"):
        check_component(name)
