# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What backup_info, backup_verify and backup_prune do, without Ansible.

Each function takes a Repository and plain options and returns the result
dictionary of its module; check mode is a parameter, never a side path.
"""

from __future__ import annotations

import typing as t
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import BackupNotFound, ConfigurationError, IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import (
    FAILED_VERIFICATION,
    INCOMPLETE,
    UNTRUSTED,
    USABLE,
    VERIFIED,
    BackupEntry,
    VerifyOutcome,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.signing import SIGNATURE_NAME

EVIDENCE_KIND = "evidence"  # an evidence set of a security incident (_evidence/store.py writes them)
from ansible_collections.resilience.dr.plugins.module_utils._repository.retention import Candidate, RetentionPolicy, plan_retention


def component_summary(entries: t.Sequence[BackupEntry], now: datetime) -> dict[str, t.Any]:
    """Per component: counts, and the newest usable and newest verified backup with their age."""
    summary: dict[str, t.Any] = {}
    for entry in entries:
        item = summary.setdefault(entry.component, {
            "backups": 0, "usable": 0, "verified": 0, "incomplete": 0,
            "newest_backup_id": None, "newest_age_s": None, "newest_consistency_point": None,
            "newest_verified_backup_id": None, "newest_verified_age_s": None,
            "newest_copied_from": None, "newest_copied_at": None, "last_restore_test": None,
        })
        item["backups"] += 1
        tested = entry.restore_test
        if tested and str(tested.get("tested_at", "")) >= str((item["last_restore_test"] or {}).get("tested_at", "")):
            item["last_restore_test"] = {"backup_id": entry.backup_id, **{
                key: tested.get(key) for key in ("tested_at", "ok", "duration_s", "error")}}
        if entry.status == INCOMPLETE:
            item["incomplete"] += 1
        if not entry.usable or entry.manifest is None:
            continue
        item["usable"] += 1
        age = int((now - entry.manifest.finished).total_seconds())
        # entries come oldest first, so the last one seen is the newest
        item["newest_backup_id"], item["newest_age_s"] = entry.backup_id, age
        item["newest_consistency_point"] = entry.manifest.consistency_point or None
        # A copy from another site's repository: where from and when, so the copy's lag shows.
        origin = entry.manifest.origin or {}
        item["newest_copied_from"] = origin.get("repository")
        item["newest_copied_at"] = origin.get("copied_at")
        if entry.status == VERIFIED:
            item["verified"] += 1
            item["newest_verified_backup_id"], item["newest_verified_age_s"] = entry.backup_id, age
    return summary


def backup_info(
    repository: Repository,
    *,
    component: str | None = None,
    backup_id: str | None = None,
    latest: bool = False,
    statuses: t.Sequence[str] = (),
) -> dict[str, t.Any]:
    now = repository.clock()
    if backup_id:
        if not component:
            raise ConfigurationError("backup_id needs component")
        entries = [repository.find(component, backup_id)]
    else:
        entries = repository.list_backups(component)
    summary = component_summary(entries, now)
    selected = [entry for entry in entries if not statuses or entry.status in statuses]
    if latest:
        newest: dict[str, BackupEntry] = {}
        for entry in selected:
            if entry.usable:
                newest[entry.component] = entry
        selected = list(newest.values())
    selected.sort(key=lambda entry: (entry.component, entry.started, entry.backup_id), reverse=True)
    return {
        "changed": False,
        "repository": repository.location,
        "backups": [entry.summary(now) for entry in selected],
        "components": summary,
    }


def _targets(repository: Repository, component: str | None, backup_id: str | None, latest: int) -> list[BackupEntry]:
    if backup_id:
        if not component:
            raise ConfigurationError("backup_id needs component")
        return [repository.find(component, backup_id)]
    if latest < 1:
        raise ConfigurationError("latest must be at least 1")
    components = [component] if component else repository.components()
    targets = []
    for name in components:
        usable = [entry for entry in repository.list_backups(name)
                  if entry.usable or entry.status in (FAILED_VERIFICATION, UNTRUSTED)]
        targets.extend(usable[-latest:])
    if component and not targets:
        raise BackupNotFound(f"component {component} has no complete backup in {repository.location} to verify")
    return targets


def backup_verify(
    repository: Repository,
    *,
    component: str | None = None,
    backup_id: str | None = None,
    latest: int = 1,
    level: str = "auto",
    record: bool = True,
    check_mode: bool = False,
) -> dict[str, t.Any]:
    """Re-read the chosen backups; record each outcome; fail naming the first bad file."""
    targets = _targets(repository, component, backup_id, latest)
    results: list[dict[str, t.Any]] = []
    failures: list[str] = []
    changed = False
    for entry in targets:
        if entry.manifest is None:
            raise BackupNotFound(f"{entry.label} cannot be verified: it is {entry.status} ({entry.error})")
        if level == "content" and entry.manifest.encryption is not None and not repository.identities:
            raise ConfigurationError(
                f"level content for {entry.label} needs its secret key: it is encrypted, give "
                "encryption_identity_file or encryption_identity (or use level: stored)"
            )
        previous_ok = (entry.verify_result or {}).get("ok")
        if entry.status == UNTRUSTED:  # the files match a manifest nobody trusted signed: that proves nothing
            outcome = VerifyOutcome(entry.backup_id, "signature", ok=False, error=entry.error, file=SIGNATURE_NAME)
        else:
            outcome = repository.verify(entry, content=level != "stored")
        if not outcome.ok:
            failures.append(outcome.error or f"{entry.label} failed verification")
        changed = changed or previous_ok is not outcome.ok
        if record and not check_mode:
            repository.record_verify_result(entry, outcome)
        item = {
            "component": entry.component, "backup_id": entry.backup_id, "level": outcome.level, "ok": outcome.ok,
            "files": outcome.files, "bytes": outcome.bytes,
        }
        if not outcome.ok:
            item.update(error=outcome.error, file=outcome.file)
        results.append(item)
    levels = {item["level"] for item in results}
    if failures:
        more = f" ({len(failures)} of {len(results)} backups failed verification)" if len(results) > 1 else ""
        raise IntegrityError(failures[0] + more, verified=results)
    return {
        "changed": changed and record,
        "repository": repository.location,
        "verified": results,
        # The weakest level any backup was checked at.
        "level": "stored" if "stored" in levels else ("content" if levels else None),
    }


RESTORE_TEST_KEYS = ("ok", "duration_s", "error", "compared", "sandbox", "target_rto_s")


def restore_test_record(
    repository: Repository,
    *,
    component: str,
    backup_id: str,
    outcome: dict[str, t.Any],
    check_mode: bool = False,
) -> dict[str, t.Any]:
    """Record a restore test's outcome as restore-test.json of the backup it restored."""
    entry = repository.find(component, backup_id)
    unknown = sorted(set(outcome) - set(RESTORE_TEST_KEYS))
    if unknown:
        raise ConfigurationError(f"unknown keys in the restore test outcome: {', '.join(unknown)}; "
                                 f"known are {', '.join(RESTORE_TEST_KEYS)}")
    if not isinstance(outcome.get("ok"), bool):
        raise ConfigurationError("the restore test outcome needs ok: true or false")
    record = {key: outcome[key] for key in RESTORE_TEST_KEYS if outcome.get(key) is not None}
    previous = entry.restore_test
    if not check_mode:
        record = repository.record_restore_test(entry, record)
    return {
        "changed": True,
        "repository": repository.location,
        "component": component,
        "backup_id": backup_id,
        "restore_test": record,
        "previous": previous,
    }


def backup_prune(
    repository: Repository,
    *,
    policy: RetentionPolicy,
    component: str | None = None,
    remove_incomplete: bool = True,
    include_evidence: bool = False,
    check_mode: bool = False,
) -> dict[str, t.Any]:
    """Apply the retention policy to each component under its lock.

    Evidence sets of security incidents (kind evidence) are left alone unless include_evidence: the normal
    retention of backups is not how long an incident's evidence must be kept."""
    policy.check()
    now = repository.clock()
    components = [component] if component else repository.components()
    removed: list[dict[str, t.Any]] = []
    kept: list[dict[str, t.Any]] = []
    left_alone: list[dict[str, t.Any]] = []
    before: list[str] = []
    for name in components:
        with repository.lock(name, "prune"):
            entries = repository.list_backups(name)
            before.extend(f"{entry.component}/{entry.backup_id} ({entry.status})" for entry in entries)
            evidence = [entry for entry in entries if entry.manifest is not None and entry.manifest.kind == EVIDENCE_KIND
                        and not include_evidence]
            left_alone.extend({"component": entry.component, "backup_id": entry.backup_id, "status": entry.status,
                               "reason": "evidence set of a security incident: pruned only with include_evidence: true"}
                              for entry in evidence)
            complete = [entry for entry in entries if entry.manifest is not None and entry not in evidence
                        and entry.status in (*USABLE, FAILED_VERIFICATION)]
            reasons = plan_retention(
                [
                    Candidate(
                        backup_id=entry.backup_id, finished_at=entry.manifest.finished, verified=entry.status == VERIFIED,
                        pinned=entry.manifest.retention_class == "pinned", depends_on=entry.manifest.depends_on,
                    )
                    for entry in complete if entry.manifest is not None
                ],
                policy, now,
            )
            for entry in entries:
                item = {"component": entry.component, "backup_id": entry.backup_id, "status": entry.status}
                if entry in evidence:
                    continue
                if entry in complete:
                    if entry.backup_id in reasons:
                        kept.append({**item, "reasons": reasons[entry.backup_id]})
                        continue
                elif entry.status != INCOMPLETE or not remove_incomplete:
                    # Unreadable manifests may come from a newer format: never delete what we cannot read.
                    left_alone.append({**item, "reason": entry.error or entry.status})
                    continue
                removed.append({**item, "size": entry.stored_size})
                if not check_mode:
                    repository.delete_backup(entry)
    gone = {(item["component"], item["backup_id"]) for item in removed}
    after = [line for line in before if tuple(line.split(" ", 1)[0].split("/", 1)) not in gone]
    return {
        "changed": bool(removed),
        "repository": repository.location,
        "removed": removed,
        "kept": kept,
        "left_alone": left_alone,
        "freed_bytes": sum(item["size"] for item in removed),
        "diff": {"before": "\n".join(before) + "\n", "after": "\n".join(after) + "\n"},
    }
