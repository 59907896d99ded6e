# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names and the marker of a logical restore's databases."""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.module_utils._postgres import logical_restore


def test_derived_names_fit_postgresql_identifiers():
    name = logical_restore.derived_name("x" * 70, "_restoring_abc123")
    assert len(name.encode()) == 63 and name.endswith("_restoring_abc123")
    assert logical_restore.derived_name("é" * 40, "_before_20261123T040000").endswith("_before_20261123T040000")
    assert len(logical_restore.derived_name("é" * 40, "_before_20261123T040000").encode()) <= 63


def test_marker_round_trip():
    text = logical_restore.marker_text("20261123T040000Z-k3f9ab", "orders-db", "2026-11-23T05:00:00Z")
    assert logical_restore.read_marker(f"notes before. {text}") == {
        "backup_id": "20261123T040000Z-k3f9ab", "component": "orders-db", "restored_at": "2026-11-23T05:00:00Z"}
    assert logical_restore.read_marker("a comment of the application") is None
    assert logical_restore.read_marker(None) is None
