# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The archive extractor of files_restore on its own: tar streams made here, extracted into a temporary
directory beside a sentinel directory that must stay empty. No repository, no servers."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile

import pytest

from ansible_collections.resilience.dr.plugins.module_utils import _safe_extract
from ansible_collections.resilience.dr.plugins.module_utils._safe_extract import (
    Extractor,
    InsufficientSpace,
    UnsafeArchive,
    check_free_space,
    link_escape,
    member_path,
)
from ansible_collections.resilience.dr.plugins.module_utils._tar_stream import open_archive

LABEL = "backup 20261123T040000Z-k3f9ab of component uploads"


class Trickle(io.BytesIO):
    """An archive handed over in small, uneven pieces, as a decompressor does: headers and data cross them."""

    def read(self, size=-1):
        return super().read(min(777, size) if size is not None and size >= 0 else 777)


def info(name, kind=tarfile.REGTYPE, linkname="", data=b"", mode=0o644, mtime=1_600_000_000):
    member = tarfile.TarInfo(name)
    member.type, member.linkname, member.mode, member.mtime = kind, linkname, mode, mtime
    member.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    return member, data


def root():
    return info(".", tarfile.DIRTYPE, mode=0o755)


def listing_of(members):
    """The listing files_backup would have recorded for these members (a forged but matching one)."""
    listing = {}
    for member, data in members:
        name = os.path.normpath(member.name) if not member.name.startswith("/") else member.name
        entry = {"uid": 0, "gid": 0, "user": "root", "group": "root"}
        if member.issym():
            entry.update(type="symlink", target=member.linkname)
        elif member.isdir():
            entry.update(type="dir", mode=member.mode)
        elif member.islnk():
            entry.update(type="file", mode=member.mode, size=0, link=member.linkname)
        elif member.isreg():
            entry.update(type="file", mode=member.mode, size=member.size, mtime=int(member.mtime),
                         sha256=hashlib.sha256(data).hexdigest())
        else:
            entry.update(type="special")
        listing[name] = entry
    return listing


def archive_bytes(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member, data in members:
            archive.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return buffer.getvalue()


@pytest.fixture
def place(tmp_path):
    """tmp_path/work/target (extraction root) and tmp_path/work/outside (a sentinel that must stay empty)."""
    (tmp_path / "work" / "target").mkdir(parents=True)
    (tmp_path / "work" / "outside").mkdir()
    return tmp_path / "work"


def extract(target, members, listing=None, wanted=lambda name: True, data=None):
    listing = listing_of(members) if listing is None else listing
    fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    extractor = Extractor(fd, listing, wanted, None, LABEL)
    try:
        with open_archive(Trickle(data or archive_bytes(members))) as (archive, reader):
            return extractor.extract(archive, reader)
    finally:
        extractor.close()
        os.close(fd)


def everything_below(path):
    return sorted(os.path.relpath(os.path.join(directory, name), path)
                  for directory, dirnames, filenames in os.walk(path) for name in dirnames + filenames)


def test_a_normal_archive_is_extracted_with_modes_times_and_links(place):
    target = place / "target"
    members = [root(), info("docs", tarfile.DIRTYPE, mode=0o750), info("docs/a.txt", data=b"alpha\n", mode=0o640),
               info("docs/link", tarfile.SYMTYPE, "a.txt"),
               info("hard", tarfile.LNKTYPE, "docs/a.txt"), info("ro", tarfile.DIRTYPE, mode=0o500),
               info("ro/inside", data=b"x", mode=0o400), info("docs/deeper/to-top", tarfile.SYMTYPE, "../../hard")]
    listing = listing_of(members)
    listing["docs/deeper"] = {"type": "dir", "mode": 0o700}
    written = extract(target, members, listing)
    assert (target / "docs" / "a.txt").read_bytes() == b"alpha\n"
    assert stat.S_IMODE((target / "docs").stat().st_mode) == 0o750
    assert stat.S_IMODE((target / "docs" / "a.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((target / "ro").stat().st_mode) == 0o500
    assert int((target / "docs" / "a.txt").stat().st_mtime) == 1_600_000_000
    assert int((target / "docs").stat().st_mtime) == 1_600_000_000  # set after its content was written
    assert os.readlink(target / "docs" / "link") == "a.txt"
    assert (target / "docs" / "deeper" / "to-top").read_bytes() == b"alpha\n"
    assert os.path.samefile(target / "hard", target / "docs" / "a.txt")
    st = (target / "docs" / "a.txt").stat()
    assert written[(st.st_dev, st.st_ino)] == (6, hashlib.sha256(b"alpha\n").hexdigest())
    assert os.listdir(place / "outside") == []


def path_max_chain(through="outside"):
    """The CVE-2025-4517 pattern: nested long directory names, each reachable through a one-letter symlink, so
    that a path through the links is short while what it resolves to is longer than PATH_MAX (where realpath
    gives up); then a link climbing back up through the chain and out, and a file written through it."""
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
    members.append(info("escape", tarfile.SYMTYPE, long_link + "/../" + through))  # from the root: ../outside
    members.append(info("escape/pwned", data=b"written outside the target\n"))
    return members


def test_the_path_max_symlink_chain_is_refused_and_nothing_is_written_outside(place):
    with pytest.raises(UnsafeArchive, match=r"'a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/l+' was refused \(its parent a is a symlink"):
        extract(place / "target", path_max_chain())
    assert os.listdir(place / "outside") == []


def test_the_path_max_chain_without_its_climbing_link_is_refused_at_the_escape(place):
    members = [member for member in path_max_chain() if not member[0].name.startswith("a/")]
    with pytest.raises(UnsafeArchive, match=r"'escape' was refused \(symlink target .* has '\.\.' after a name"):
        extract(place / "target", members)
    assert os.listdir(place / "outside") == []


@pytest.mark.parametrize("members,refused,why", [
    ([info("/etc/evil", data=b"evil")], None, "absolute path"),
    ([info("../evil", data=b"evil")], None, "'..' in the path"),
    ([info("docs/../../evil", data=b"evil")], None, "'..' in the path"),
    ([info("abs", tarfile.SYMTYPE, "/etc/passwd")], None, "symlink to the absolute path '/etc/passwd'"),
    ([info("up", tarfile.SYMTYPE, "../outside")], None, "symlink to '../outside', outside the restored tree"),
    ([info("d", tarfile.DIRTYPE), info("d/up", tarfile.SYMTYPE, "../../outside")], None, "outside the restored tree"),
    ([info("self", tarfile.SYMTYPE, "."), info("out", tarfile.SYMTYPE, "self/../outside")], None, "'..' after a name"),
    ([info("escape", tarfile.SYMTYPE, "."), info("escape/x", data=b"x")], None, "its parent escape is a symlink"),
    ([info("hard", tarfile.LNKTYPE, "/etc/passwd")], None, "hard link to '/etc/passwd': absolute path"),
    ([info("hard", tarfile.LNKTYPE, "../outside/x")], None, "'..' in the path"),
    ([info("hard", tarfile.LNKTYPE, "later"), info("later", data=b"x")], "hard", "not a file extracted earlier"),
    ([info("link", tarfile.SYMTYPE, "x"), info("hard", tarfile.LNKTYPE, "link")], None, "not a file extracted earlier"),
    ([info("null", tarfile.CHRTYPE)], None, "a character device"),
    ([info("disk", tarfile.BLKTYPE)], None, "a block device"),
    ([info("pipe", tarfile.FIFOTYPE)], None, "a fifo"),
    ([info("twice", data=b"one"), info("twice", data=b"one")], None, "names it twice"),
    ([info("f", data=b"x"), info("f/x", data=b"y")], None, "its parent f is not a directory"),
])
def test_hostile_members_are_refused_naming_the_entry(place, members, refused, why):
    """refused: the entry refused, when it is not the last one."""
    members = [root()] + members
    with pytest.raises(UnsafeArchive) as raised:
        extract(place / "target", members)
    assert f"the archive entry {refused or members[-1][0].name!r} was refused (" in str(raised.value)
    assert why in str(raised.value)
    assert LABEL in str(raised.value)
    assert os.listdir(place / "outside") == []
    assert not os.path.lexists(place / "evil")


def test_an_entry_missing_from_the_listing_is_refused_before_it_is_written(place):
    members = [root(), info("listed", data=b"ok"), info("smuggled", data=b"not in the listing")]
    listing = listing_of(members[:2])
    with pytest.raises(UnsafeArchive, match=r"'smuggled' was refused \(it is not in the backup's listing\)"):
        extract(place / "target", members, listing)
    assert everything_below(place / "target") == ["listed"]


def test_a_decompression_bomb_is_refused_before_a_byte_is_written(place):
    bomb = b"\0" * (16 * 1024 * 1024)
    members = [root(), info("bomb.bin", data=bomb)]
    listing = listing_of(members)
    listing["bomb.bin"].update(size=10, sha256=hashlib.sha256(b"\0" * 10).hexdigest())
    with pytest.raises(UnsafeArchive, match=r"its header says 16777216 bytes, the backup's listing 10"):
        extract(place / "target", members, listing)
    assert everything_below(place / "target") == []


def test_an_entry_of_another_type_than_listed_is_refused(place):
    members = [root(), info("config", tarfile.SYMTYPE, "elsewhere")]
    listing = listing_of(members)
    listing["config"] = {"type": "dir", "mode": 0o755}
    with pytest.raises(UnsafeArchive, match="the archive has a symlink, the backup's listing a dir"):
        extract(place / "target", members, listing)


def test_members_not_wanted_are_skipped_unread_and_missing_parents_made(place):
    members = [root(), info("a", tarfile.DIRTYPE), info("a/b", tarfile.DIRTYPE), info("a/b/c", data=b"c"),
               info("z", data=b"z")]
    extract(place / "target", members, wanted=lambda name: name == "a/b/c")
    assert everything_below(place / "target") == ["a", "a/b", "a/b/c"]


def test_deep_trees_keep_a_bounded_number_of_descriptors_and_close_them(place, monkeypatch):
    monkeypatch.setattr(_safe_extract, "OPEN_DIRECTORIES", 4)
    members = [root()]
    for top in range(6):
        path = f"t{top}"
        members.append(info(path, tarfile.DIRTYPE))
        for depth in range(8):
            path += f"/d{depth}"
            members.append(info(path, tarfile.DIRTYPE, mode=0o555))
            members.append(info(path + "/f", data=b"x"))
    before = len(os.listdir("/proc/self/fd"))
    extract(place / "target", members)
    assert len(os.listdir("/proc/self/fd")) == before
    assert (place / "target" / "t5" / "d0" / "d1" / "d2" / "d3" / "d4" / "d5" / "d6" / "d7" / "f").read_bytes() == b"x"


def test_names_and_link_targets_are_checked_lexically():
    assert member_path("./a//b/.") == ("a/b", ["a", "b"])
    assert member_path(".") == (".", [])
    assert member_path("a/../b") == "'..' in the path"
    assert member_path("/a") == "absolute path"
    assert link_escape(0, "a/b") is None and link_escape(2, "../../x") is None
    assert "outside" in link_escape(1, "../../x")
    assert "after a name" in link_escape(3, "a/../b")
    assert "absolute" in link_escape(3, "/x")
    assert "empty" in link_escape(0, "")


def test_free_space_is_checked_against_the_listing_first(tmp_path):
    listing = {".": {"type": "dir"}, "huge.bin": {"type": "file", "size": 1 << 60},
               "other/huge.bin": {"type": "file", "size": 1 << 60}}
    with pytest.raises(InsufficientSpace, match=r"restoring needs about .* TiB for 3 entries in .*only .* free"):
        check_free_space(str(tmp_path), listing, lambda name: True, LABEL)
    check_free_space(str(tmp_path), listing, lambda name: name == ".", LABEL)
