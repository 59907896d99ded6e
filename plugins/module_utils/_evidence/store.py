# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An evidence set: the pieces collected on the components' hosts, stored as one backup of kind `evidence`.

The repository gives what a chain of custody needs: every file encrypted to the plan's recipients, its size and
SHA-256 in the manifest, the manifest written last (and signed where the repository signs). The manifest's
`extra.evidence` records, for each piece, what it is, the component and host it came from, what it was read from,
when it was collected (UTC) and the SHA-256 of its bytes as computed on that host, which is checked again here
before the piece is stored. backup_prune leaves evidence sets alone unless told to prune them (include_evidence).
"""

from __future__ import annotations

import os
import typing as t
from dataclasses import asdict

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError, SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._evidence.collect import Piece, sha256_file
from ansible_collections.resilience.dr.plugins.module_utils._repository.operations import EVIDENCE_KIND

if t.TYPE_CHECKING:
    from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository

KIND = EVIDENCE_KIND
METHOD = "collected"


def check_piece(directory: str, piece: Piece) -> str:
    """The piece's file, after checking it is what was collected: same size and SHA-256."""
    path = os.path.join(directory, piece.name)
    try:
        size, sha256 = sha256_file(path)
    except OSError as error:
        raise SourceUnavailable(f"evidence piece {piece.name} ({piece.what} of {piece.component} from {piece.host}) "
                                f"is not readable at {path}: {error.strerror}; collect the evidence again") from None
    if (size, sha256) != (piece.size, piece.sha256):
        raise IntegrityError(
            f"evidence piece {piece.name} ({piece.what} of {piece.component} from {piece.host}) changed after it was "
            f"collected: SHA-256 {sha256} ({size} bytes) at {path}, {piece.sha256} ({piece.size} bytes) when collected "
            f"at {piece.collected_at}; nothing was stored - collect the evidence again and keep this copy aside"
        )
    return path


def store_evidence(repository: Repository, *, component: str, directory: str, pieces: t.Sequence[t.Mapping[str, t.Any]],
                   incident: t.Mapping[str, t.Any], check_mode: bool = False) -> dict[str, t.Any]:
    """Store the pieces found in directory as one evidence set of component; its backup id is the set's id."""
    found = [Piece.from_dict(piece) for piece in pieces]
    listed = [asdict(piece) for piece in found]
    if check_mode or not found:
        return {"changed": bool(found), "component": component, "backup_id": None, "pieces": listed}
    paths = [check_piece(directory, piece) for piece in found]
    with repository.new_backup(component, kind=KIND, method=METHOD) as session:
        for piece, path in zip(found, paths):
            session.add_file(piece.name, path)
        session.consistency_point = {"time": max(piece.collected_at for piece in found)}
        session.source = {"incident": dict(incident), "hosts": sorted({piece.host for piece in found})}
        session.extra = {"evidence": listed}
    return {"changed": True, "component": component, "backup_id": session.backup_id, "pieces": listed,
            "repository": repository.location}
