# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Data the PostgreSQL unit tests share."""

from __future__ import annotations

# pgbackrest info --output=json of a stanza whose repo1 (the lost site's) is gone, as pgBackRest 2.45 prints it.
REPO1_LOST = {
    "name": "primary",
    "status": {"code": 4, "message": "different across repos"},
    "repo": [{"key": 1, "cipher": "none", "status": {"code": 1, "message": "missing stanza path"}},
             {"key": 2, "cipher": "none", "status": {"code": 0, "message": "ok"}}],
    "archive": [{"database": {"id": 1, "repo-key": 2}, "id": "15-1",
                 "min": "000000010000000000000001", "max": "000000010000000000000005"}],
    "backup": [{"label": "20261205-210933F", "database": {"id": 1, "repo-key": 2}, "type": "full",
                "timestamp": {"start": 1796504973, "stop": 1796504975}}],
}
