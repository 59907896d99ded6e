# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A new task definition revision from the current one: the named variables change, everything else stays."""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._ecs.taskdef import rewrite, variables
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError


def definition() -> dict[str, t.Any]:
    return {
        "taskDefinitionArn": "arn:aws:ecs:us-west-2:111122223333:task-definition/api:7", "family": "api", "revision": 7,
        "status": "ACTIVE", "compatibilities": ["EC2", "FARGATE"], "requiresCompatibilities": ["EC2", "FARGATE"],
        "registeredAt": "2026-11-23T04:00:00Z", "ephemeralStorage": {"sizeInGiB": 40}, "pidMode": "task",
        "networkMode": "awsvpc", "cpu": "256", "memory": "512",
        "containerDefinitions": [
            {"name": "api", "image": "shop/api:41", "environment": [{"name": "DATABASE_HOST", "value": "old.east"},
                                                                    {"name": "LOG_LEVEL", "value": "info"}],
             "secrets": [{"name": "DATABASE_CREDENTIALS", "valueFrom": "arn:east"}]},
            {"name": "sidecar", "image": "shop/proxy:3", "environment": [{"name": "LOG_LEVEL", "value": "warn"}]},
        ],
    }


def test_only_the_named_variables_change_and_every_other_key_is_kept():
    current = definition()
    register, changes = rewrite(current, {"DATABASE_HOST": "new.west"}, {"DATABASE_CREDENTIALS": "arn:west"})
    assert changes == [
        {"container": "api", "kind": "environment", "name": "DATABASE_HOST", "before": "old.east", "after": "new.west"},
        {"container": "api", "kind": "secret", "name": "DATABASE_CREDENTIALS", "before": "arn:east", "after": "arn:west"},
    ]
    api, sidecar = register["containerDefinitions"]
    assert api["environment"] == [{"name": "DATABASE_HOST", "value": "new.west"}, {"name": "LOG_LEVEL", "value": "info"}]
    assert api["secrets"] == [{"name": "DATABASE_CREDENTIALS", "valueFrom": "arn:west"}]
    assert sidecar == definition()["containerDefinitions"][1]
    # What AWS sets itself is left out; everything the options of ecs_taskdefinition would drop is kept.
    assert not {"taskDefinitionArn", "revision", "status", "compatibilities", "registeredAt"} & set(register)
    assert register["ephemeralStorage"] == {"sizeInGiB": 40} and register["pidMode"] == "task"
    assert register["requiresCompatibilities"] == ["EC2", "FARGATE"]
    # The current revision is not modified.
    assert current == definition()


def test_a_revision_that_holds_the_values_needs_no_change():
    _register, changes = rewrite(definition(), {"DATABASE_HOST": "old.east"}, {"DATABASE_CREDENTIALS": "arn:east"})
    assert changes == []


def test_a_variable_in_several_containers_changes_in_each():
    _register, changes = rewrite(definition(), {"LOG_LEVEL": "debug"}, {})
    assert [(change["container"], change["before"]) for change in changes] == [("api", "info"), ("sidecar", "warn")]


def test_a_variable_no_container_has_is_refused_naming_what_they_have():
    with pytest.raises(ConfigurationError) as raised:
        rewrite(definition(), {"DATABSE_HOST": "new.west"}, {})
    assert "has the environment variable DATABSE_HOST" in raised.value.message
    assert "api: DATABASE_HOST, LOG_LEVEL; sidecar: LOG_LEVEL" in raised.value.message


def test_named_containers_get_the_variable_added_where_missing():
    register, changes = rewrite(definition(), {"DATABASE_HOST": "new.west"}, {}, containers=["sidecar"])
    assert changes == [{"container": "sidecar", "kind": "environment", "name": "DATABASE_HOST", "before": None,
                        "after": "new.west"}]
    assert {"name": "DATABASE_HOST", "value": "new.west"} in register["containerDefinitions"][1]["environment"]
    assert register["containerDefinitions"][0]["environment"][0]["value"] == "old.east"


def test_an_unknown_container_is_refused():
    with pytest.raises(ConfigurationError, match="has no container worker; its containers are api, sidecar"):
        rewrite(definition(), {"DATABASE_HOST": "new.west"}, {}, containers=["worker"])


def test_the_diff_shows_only_the_named_variables():
    assert variables(definition(), {"DATABASE_HOST": "x"}, {"DATABASE_CREDENTIALS": "y"}) == {
        "api": {"DATABASE_HOST": "old.east", "DATABASE_CREDENTIALS": "arn:east"}}
