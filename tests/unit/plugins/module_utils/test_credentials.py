# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rotated secrets travel as verifiers: the SCRAM-SHA-256 one PostgreSQL stores, Redis's SHA-256."""

from __future__ import annotations

import base64
import hashlib

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._credentials import (
    redis_password_hash,
    scram_sha256_verifier,
)
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError

# What PostgreSQL 15 itself stored for CREATE ROLE ... PASSWORD 'pencil' (password_encryption scram-sha-256).
POSTGRESQL_VERIFIER = (
    "SCRAM-SHA-256$4096:rRdzaMtUPBIiSSbDpkxpJA==$osX4oe6yISkD9mzTy4lp56SNX+5hW6HTULI1dlicRNw="
    ":CxW/TlMXW/p2rWpXU+bJN1y63fuH0bJVXd963kWPt2Y="
)


def test_scram_verifier_is_the_one_postgresql_computes_for_the_same_salt():
    salt = base64.b64decode("rRdzaMtUPBIiSSbDpkxpJA==")
    assert scram_sha256_verifier("pencil", salt) == POSTGRESQL_VERIFIER


def test_scram_verifier_has_a_fresh_salt_and_never_contains_the_password():
    first, second = scram_sha256_verifier("s3cret-pw"), scram_sha256_verifier("s3cret-pw")
    assert first != second
    assert "s3cret-pw" not in first
    assert first.startswith("SCRAM-SHA-256$4096:") and len(base64.b64decode(first.split("$")[1].split(":")[1])) == 16


def test_scram_verifier_refuses_a_password_that_saslprep_would_change():
    with pytest.raises(ConfigurationError, match="ASCII"):
        scram_sha256_verifier("pass\u00a0word")


def test_redis_acl_gets_the_sha256_of_the_password():
    assert redis_password_hash("pencil") == "#" + hashlib.sha256(b"pencil").hexdigest()
