# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile files backups pushed through files_restore (ansible-playbook, as root: what makes an escape
dangerous).

Each archive is stored as a real backup (tar + zstd, manifest written last) with the collection's repository
code, with a forged listing that matches it, so that what stops it is the extraction, not the listing check
(except for the entry missing from the listing and the decompression bomb, whose listing is what exposes it).
Every refusal must name the entry and the reason, write nothing outside the target (a sentinel directory
beside it stays empty), leave the live tree as it was, and show no Python traceback."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import uuid

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._files import ARCHIVE
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

RESTORE = "resilience.dr.files_restore"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the escapes tested here matter as root; run as root")


def info(name, kind=tarfile.REGTYPE, linkname="", data=b"", mode=0o644):
    member = tarfile.TarInfo(name)
    member.type, member.linkname, member.mode, member.mtime = kind, linkname, mode, 1_600_000_000
    member.size = len(data) if kind == tarfile.REGTYPE else 0
    return member, data


def listing_of(members):
    """The listing files_backup records, made up to match the archive."""
    listing = {}
    for member, data in members:
        entry = {"uid": 0, "gid": 0, "user": "root", "group": "root"}
        if member.issym():
            entry.update(type="symlink", target=member.linkname)
        elif member.isdir():
            entry.update(type="dir", mode=member.mode)
        elif member.islnk():
            entry.update(type="file", mode=member.mode, size=0, link=member.linkname)
        elif member.isreg():
            entry.update(type="file", mode=member.mode, size=member.size, mtime=member.mtime,
                         sha256=hashlib.sha256(data).hexdigest())
        else:
            entry.update(type="special")
        listing[member.name if member.name.startswith("/") else os.path.normpath(member.name)] = entry
    return listing


def store(options, component, members, listing=None, kind="files"):
    """A complete backup holding these members as files.tar, with a matching listing unless one is given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member, data in members:
            archive.addfile(member, io.BytesIO(data) if member.isreg() else None)
    repository = open_repository({"repository": options["repository"], "compression_level": 1})
    with repository.new_backup(component, kind=kind, method="tar") as backup:
        backup.add_bytes(ARCHIVE, buffer.getvalue())
        backup.verification = {"listing": listing_of(members) if listing is None else listing}
    return backup.backup_id


def root():
    return info(".", tarfile.DIRTYPE, mode=0o755)


def path_max_chain():
    """CVE-2025-4517: one-letter symlinks to nested 247-character directories, so that the link path is short
    while what it resolves to is longer than PATH_MAX, where realpath (and so tarfile's data filter before
    Python 3.11.13) stops resolving; then a link climbing back through the chain to the staging root and one
    directory further (the sentinel beside the target), and a file written through it."""
    component = "d" * 247
    steps = "abcdefghijklmnop"
    members = [root()]
    path = ""
    for step in steps:
        members.append(info(os.path.join(path, component), tarfile.DIRTYPE, mode=0o755))
        members.append(info(os.path.join(path, step), tarfile.SYMTYPE, component))
        path = os.path.join(path, component)
    long_link = os.path.join(*steps, "l" * 254)
    members.append(info(long_link, tarfile.SYMTYPE, "../" * len(steps)))
    members.append(info("escape", tarfile.SYMTYPE, long_link + "/../outside"))
    members.append(info("escape/pwned", data=b"written outside the target\n"))
    return members


def fingerprint(root):
    result = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            st = os.lstat(path)
            if os.path.islink(path):
                result[relative] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as handle:
                    result[relative] = ("file", st.st_mode, hashlib.sha256(handle.read()).hexdigest())
            else:
                result[relative] = ("dir", st.st_mode)
    return result


@pytest.fixture
def place(tmp_path):
    """tmp_path/live (the target, with data), tmp_path/outside (a sentinel that must stay empty)."""
    live = tmp_path / "live"
    (live / "config").mkdir(parents=True)
    (live / "config" / "app.yml").write_text("live configuration\n")
    (live / "data.bin").write_bytes(os.urandom(4096))
    (tmp_path / "outside").mkdir()
    return tmp_path


def assert_no_traceback(result):
    assert "Traceback" not in result.get("msg", ""), result["msg"]
    assert "Traceback" not in result.get("module_stderr", ""), result["module_stderr"]
    assert "Traceback" not in result.get("exception", ""), result["exception"]  # ansible-core: "(traceback unavailable)"


def hostile_cases(place):
    outside = place / "outside"
    bomb = b"\0" * (64 * 1024 * 1024)
    bomb_listing = listing_of([root(), info("bomb.bin", data=bomb)])
    bomb_listing["bomb.bin"].update(size=10, sha256=hashlib.sha256(b"\0" * 10).hexdigest())
    smuggled = [root(), info("listed", data=b"ok\n"), info("smuggled", data=b"not in the listing\n")]
    chain = path_max_chain()
    return {
        "path-max-chain": (chain, None, chain[-3][0].name, "its parent a is a symlink"),
        "symlink-escape": ([root(), info("escape", tarfile.SYMTYPE, "../outside"), info("escape/pwned", data=b"x")],
                           None, "escape", "symlink to '../outside', outside the restored tree"),
        "symlink-dot-chain": ([root(), info("self", tarfile.SYMTYPE, "."),
                               info("out", tarfile.SYMTYPE, "self/../outside"), info("out/pwned", data=b"x")],
                              None, "out", "symlink target 'self/../outside' has '..' after a name"),
        "symlink-absolute": ([root(), info("abs", tarfile.SYMTYPE, str(outside)), info("abs/pwned", data=b"x")],
                             None, "abs", f"symlink to the absolute path {str(outside)!r}"),
        "hard-link-escape": ([root(), info("hard", tarfile.LNKTYPE, "../outside/x")], None, "hard",
                             "hard link to '../outside/x': '..' in the path"),
        "hard-link-absolute": ([root(), info("passwd", tarfile.LNKTYPE, "/etc/passwd")], None, "passwd",
                               "hard link to '/etc/passwd': absolute path"),
        "dotdot": ([root(), info("../outside/pwned", data=b"x")], None, "../outside/pwned", "'..' in the path"),
        "absolute": ([root(), info(f"{outside}/pwned", data=b"x")], None, f"{outside}/pwned", "absolute path"),
        "device": ([root(), info("null", tarfile.CHRTYPE)], None, "null", "it is a character device"),
        "fifo": ([root(), info("pipe", tarfile.FIFOTYPE)], None, "pipe", "it is a fifo"),
        "not-listed": (smuggled, listing_of(smuggled[:2]), "smuggled", "it is not in the backup's listing"),
        "bomb": ([root(), info("bomb.bin", data=bomb)], bomb_listing, "bomb.bin",
                 f"its header says {len(bomb)} bytes, the backup's listing 10"),
    }


def test_hostile_archives_are_refused_naming_the_entry_and_nothing_changes(ansible, place):
    repository = str(place / "repository")
    prefix = f"hostile-{uuid.uuid4().hex[:6]}"
    cases = hostile_cases(place)
    calls = []
    for case, (members, listing, _name, _why) in cases.items():
        store({"repository": repository}, f"{prefix}-{case}", members, listing)
        calls.append((RESTORE, {"repository": repository, "component": f"{prefix}-{case}", "path": str(place / "live")}))
    before = fingerprint(place / "live")
    results = ansible.sequence(calls)
    assert os.listdir(place / "outside") == []
    for (case, (_members, _listing, name, why)), result in zip(cases.items(), results):
        assert result["failed"], case
        assert f"the archive entry {name!r} was refused ({why}" in result["msg"], (case, result["msg"])
        assert "nothing was changed in the target" in result["msg"]
        assert_no_traceback(result)
    assert fingerprint(place / "live") == before
    assert sorted(os.listdir(place)) == ["ansible", "live", "outside", "repository"]  # no staging left behind


def test_a_backup_of_another_kind_is_refused(ansible, place):
    repository = str(place / "repository")
    backup_id = store({"repository": repository}, "orders-db", [root(), info("dump", data=b"pg")], kind="postgresql")
    before = fingerprint(place / "live")
    result = ansible.module(RESTORE, {"repository": repository, "component": "orders-db", "path": str(place / "live")})
    assert result["failed"]
    assert (f"component orders-db has no complete files backup in {repository}; the newest usable one, {backup_id}, "
            "is a postgresql backup taken with method tar") in result["msg"]
    assert_no_traceback(result)
    named = ansible.module(RESTORE, {"repository": repository, "component": "orders-db", "path": str(place / "live"),
                                     "backup_id": backup_id})
    assert f"backup {backup_id} of component orders-db is a postgresql backup (method tar), not a files backup" in named["msg"]
    assert_no_traceback(result)
    assert fingerprint(place / "live") == before


def test_paths_refuses_a_live_parent_that_is_a_symlink(ansible, place):
    """A partial restore of config/app.yml while the live config directory was replaced by a link to a
    directory outside the target: restoring through it would write there as root."""
    repository = str(place / "repository")
    members = [root(), info("config", tarfile.DIRTYPE, mode=0o755), info("config/app.yml", data=b"restored\n")]
    store({"repository": repository}, "app-config", members)
    (place / "outside" / "app.yml").write_text("not part of the target\n")
    os.rename(place / "live" / "config", place / "config.moved")
    os.symlink(place / "outside", place / "live" / "config")
    before, sentinel = fingerprint(place / "live"), fingerprint(place / "outside")
    results = ansible.sequence([
        (RESTORE, {"repository": repository, "component": "app-config", "path": str(place / "live"),
                   "paths": ["config/app.yml"]}, {"check": True}),
        (RESTORE, {"repository": repository, "component": "app-config", "path": str(place / "live"),
                   "paths": ["config/app.yml"]}),
    ])
    for result in results:
        assert result["failed"]
        assert f"{place / 'live' / 'config'} is a symlink (to {place / 'outside'})" in result["msg"], result["msg"]
        assert_no_traceback(result)
    assert fingerprint(place / "live") == before and fingerprint(place / "outside") == sentinel
