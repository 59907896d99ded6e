# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replacing a TSIG key: the key statement, the key file, and the wait until the server takes the new key."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._dns import tsig_key
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError

SERVER = tsig_key.Server("192.0.2.53", 53, "example.com")


def test_the_key_statement_is_what_bind_reads():
    assert tsig_key.key_statement("dr-failover", "hmac-sha256", "c2VjcmV0") == (
        'key "dr-failover" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0";\n};\n')


def test_a_name_that_would_break_the_statement_is_refused():
    with pytest.raises(ConfigurationError, match="cannot be written"):
        tsig_key.key_statement('a"; key "b', "hmac-sha256", "c2VjcmV0")


def test_the_key_file_is_replaced_whole_with_its_mode(tmp_path):
    path = tmp_path / "dr-failover.key"
    path.write_text("old")
    tsig_key.write_key_file(str(path), "new statement\n", None, None, 0o640)
    assert path.read_text() == "new statement\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["dr-failover.key"], "no temporary file is left"


class Clock:
    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds):
        self.now += seconds


def answers(*rounds):
    """A probe answering round by round: each round is (answer to the new key, answer to the old key)."""
    given = [answer for pair in rounds for answer in pair]

    def probe(server, name, secret, algorithm):
        return given.pop(0) if len(given) > 1 else given[0]
    return probe


def test_verification_waits_until_the_server_has_reloaded():
    clock = Clock()
    probe = answers(("BADSIG", tsig_key.ACCEPTED), (tsig_key.ACCEPTED, "BADSIG"))
    outcome = tsig_key.verify(SERVER, "dr-failover", "hmac-sha256", "bmV3", "b2xk", 10, clock.sleep, lambda: clock.now,
                              probe)
    assert outcome == {"new_key_accepted": True, "old_key_refused": True, "old_key_answer": "BADSIG"}
    assert clock.now == 0.5


def test_an_old_key_still_accepted_fails_the_rotation():
    clock = Clock()
    probe = answers((tsig_key.ACCEPTED, tsig_key.ACCEPTED))
    with pytest.raises(DrError, match="one signed with the old key accepted"):
        tsig_key.verify(SERVER, "dr-failover", "hmac-sha256", "bmV3", "b2xk", 3, clock.sleep, lambda: clock.now, probe)
