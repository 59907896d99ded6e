# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit names of schedules and ExecStart command lines."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._systemd import SLUG_LENGTH, command_line, slug, unit_names


@pytest.mark.parametrize("schedule, word", [
    ("daily", "daily"),
    ("hourly", "hourly"),
    ("*-*-* 02:00:00", "02-00-00"),
    ("Mon..Fri *-*-* 04:30", "mon-fri-04-30"),
    ("*:0/15", "0-15"),
    ("*-*-*", ""),
])
def test_a_schedule_becomes_a_readable_word(schedule, word):
    assert slug(schedule) == word


def test_each_schedule_gets_a_unique_unit_name_that_depends_only_on_it():
    names = unit_names("resilience-dr-backup-shopfront", ["daily", "*:0/15", "daily", "Daily", "*-*-*", "*:00/15"])
    assert names["daily"] == "resilience-dr-backup-shopfront-daily"
    assert names["*:0/15"] == "resilience-dr-backup-shopfront-0-15"
    assert names["*:00/15"] == "resilience-dr-backup-shopfront-00-15"
    # Same word as an earlier schedule, or no word at all: the schedule's digest keeps them apart.
    assert re.fullmatch(r"resilience-dr-backup-shopfront-daily-[0-9a-f]{8}", names["Daily"])
    assert re.fullmatch(r"resilience-dr-backup-shopfront-[0-9a-f]{8}", names["*-*-*"])
    assert len(set(names.values())) == len(names) == 5
    assert unit_names("resilience-dr-backup-shopfront", ["*-*-*"]) == {"*-*-*": names["*-*-*"]}
    long = unit_names("p", ["Mon,Tue,Wed,Thu,Fri,Sat *-*-01..07 01,02,03,04:00:00 Europe/Berlin"])
    assert all(re.fullmatch(r"p-[a-z0-9-]+", name) and len(name) <= 2 + SLUG_LENGTH + 9 for name in long.values())


def test_a_prefix_that_cannot_name_a_unit_is_refused():
    with pytest.raises(ConfigurationError, match="cannot start a systemd unit name"):
        unit_names("resilience-dr-backup-shop front", ["daily"])


def test_command_line_quotes_what_systemd_would_split_or_expand():
    line = command_line(["/opt/ansible/bin/ansible-playbook", "resilience.dr.backup", "-e", "@/etc/resilience-dr/shop front.yml",
                         "-e", '{"components": ["orders-db"], "site": "primary"}', "100%", "$HOME", 'back\\slash'])
    assert line == ('/opt/ansible/bin/ansible-playbook resilience.dr.backup -e "@/etc/resilience-dr/shop front.yml" '
                    '-e "{\\"components\\": [\\"orders-db\\"], \\"site\\": \\"primary\\"}" 100%% "$$HOME" "back\\\\slash"')
    assert command_line(["/bin/true", ""]) == '/bin/true ""'
    assert command_line(["/bin/true", ";"]) == '/bin/true ";"'


@pytest.mark.parametrize("argv, message", [
    (["ansible-playbook", "resilience.dr.backup"], "absolute path"),
    ([], "absolute path"),
    (["/bin/true", "daily\nExecStartPre=/bin/sh"], "control character"),
])
def test_command_line_refuses_what_systemd_cannot_run_as_given(argv, message):
    with pytest.raises(ConfigurationError, match=message):
        command_line(argv)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_systemd_accepts_the_command_line_without_a_warning(tmp_path):
    argv = ["/usr/bin/printf", "%s|", "@/etc/resilience-dr/shop front.yml", '{"components": ["a", "b"]}', "100%", "$HOME",
            "it's", 'a\\b', ""]
    unit = tmp_path / "argv-check.service"
    unit.write_text(f"[Service]\nType=oneshot\nExecStart={command_line(argv)}\n")
    shown = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr == ""
