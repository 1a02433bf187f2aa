"""Where a workspace's functions run and live: names built in app.storage.keys."""

import re

import pytest
from pydantic import TypeAdapter

from app.ids import new_id
from app.storage import keys
from contract.fields import Namespace, Repository

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_a_workspace_namespace_is_the_prefix_and_the_whole_id_a_dns_label() -> None:
    workspace_id = new_id()
    namespace = keys.workspace_namespace(workspace_id, "faas-")
    assert namespace == f"faas-{workspace_id}"
    assert DNS_LABEL.fullmatch(namespace) and len(namespace) == 31
    TypeAdapter(Namespace).validate_python(namespace)
    longest = keys.workspace_namespace(workspace_id, "p" * 37)
    assert len(longest) == 63 and DNS_LABEL.fullmatch(longest)


def test_different_workspaces_never_share_a_namespace() -> None:
    ids = {new_id() for _ in range(2000)}
    assert len({keys.workspace_namespace(i, "faas-") for i in ids}) == len(ids)


@pytest.mark.parametrize("foreign", ["team-a", "Team_A", "x" * 64, "01J" + "A" * 23])
def test_an_id_made_elsewhere_is_hashed_into_a_label_of_another_length(foreign: str) -> None:
    short = keys.workspace_short_id(foreign)
    assert short == keys.workspace_short_id(foreign)  # stable
    assert len(short) == 21 and short.startswith("x") and DNS_LABEL.fullmatch(short)
    assert keys.workspace_short_id(foreign + "!") != short


def test_a_workspace_repository_lies_under_the_base_and_is_a_valid_repository() -> None:
    workspace_id = new_id()
    repository = keys.workspace_repository(workspace_id, "faas-functions", "hello")
    assert repository == f"faas-functions/{workspace_id}/hello"
    assert repository.startswith(keys.workspace_repository_prefix(workspace_id, "faas-functions"))
    TypeAdapter(Repository).validate_python(repository)


def test_the_task_of_an_artifact_path_is_read_back_from_it() -> None:
    uri = keys.s3_uri("b", keys.artifact_object("01task", "hello"))
    assert keys.artifact_task_id("b", uri) == "01task"
    assert keys.artifact_task_id("b", "s3://b/build-artifacts/01task") is None
    assert keys.artifact_task_id("other", uri) is None
    assert keys.artifact_task_id("b", "s3://b/build-artifacts/../x/y.wasm") is None
