# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stopping and starting the server: commands are argument lists, never shell strings."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._redis.service import split_command


def test_commands_are_argument_lists_and_a_single_string_is_split():
    assert split_command(["/usr/local/bin/redis-ctl stop"], "stop_command") == ["/usr/local/bin/redis-ctl", "stop"]
    assert split_command(["/opt/my redis/ctl", "stop"], "stop_command") == ["/opt/my redis/ctl", "stop"]
    with pytest.raises(ConfigurationError, match="stop_command is empty"):
        split_command([], "stop_command")
