"""Every stored field is bounded: what could not be stored is refused before anything is written.

Each case sends one over-the-limit value and checks the status, the problem code, and that
DynamoDB and S3 hold exactly what they held before (every item, every object, every unfinished
multipart upload). The same value one step inside the bound is accepted and reads back.
"""

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.api.fields import (
    MAX_DESCRIPTION_CHARS,
    MAX_MANIFEST_BYTES,
    MAX_VARIABLE_VALUE_BYTES,
    MAX_VARIABLES,
    MAX_VARIABLES_BYTES,
)
from app.config import Settings
from tests.api.support import StateReader, stored_state_reader
from tests.conftest import create_function, create_workspace

MANIFEST_HEAD = "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata:\n  name: f\n# "


def _variables(count: int, value: str = "x") -> dict[str, str]:
    return {f"v{i}": value for i in range(count)}


Body = Callable[[dict[str, str]], tuple[str, str, dict[str, Any]]]

# (what, request builder given the ids, expected status, expected code)
REFUSED: list[tuple[str, Body, int, str]] = [
    (
        "51 variables",
        lambda ids: ("POST", f"/api/workspaces/{ids['ws']}/functions",
                     {"name": "f", "variables": _variables(MAX_VARIABLES + 1)}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a variable value of 4097 bytes",
        lambda ids: ("PATCH", f"/api/functions/{ids['fn']}",
                     {"variables": {"big": "a" * (MAX_VARIABLE_VALUE_BYTES + 1)}}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a variable value of 1025 four-byte characters (4100 bytes)",
        lambda ids: ("PATCH", f"/api/functions/{ids['fn']}",
                     {"variables": {"big": "😀" * 1025}}),
        422, "VALIDATION_ERROR",
    ),
    (
        "variables of 64 KiB + in total",
        lambda ids: ("PATCH", f"/api/functions/{ids['fn']}",
                     {"variables": _variables(17, "a" * MAX_VARIABLE_VALUE_BYTES)}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a variable name that is not snake_case",
        lambda ids: ("PATCH", f"/api/functions/{ids['fn']}", {"variables": {"Big-Name": "x"}}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a variable name of 64 characters",
        lambda ids: ("PATCH", f"/api/functions/{ids['fn']}", {"variables": {"a" * 64: "x"}}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a function description of 1001 characters",
        lambda ids: ("PATCH", f"/api/functions/{ids['fn']}",
                     {"description": "a" * (MAX_DESCRIPTION_CHARS + 1)}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a workspace description of 1001 characters",
        lambda ids: ("PATCH", f"/api/workspaces/{ids['ws']}",
                     {"description": "a" * (MAX_DESCRIPTION_CHARS + 1)}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a null workspace description",
        lambda ids: ("PATCH", f"/api/workspaces/{ids['ws']}", {"description": None}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a null function field",
        lambda ids: ("PATCH", f"/api/functions/{ids['fn']}", {"variables": None}),
        422, "VALIDATION_ERROR",
    ),
    (
        "an unpaired surrogate in a name",
        lambda ids: ("POST", "/api/workspaces", {"name": "team \ud800"}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a control character in an API key name",
        lambda ids: ("POST", f"/api/workspaces/{ids['ws']}/api-keys", {"name": "ci\x00key"}),
        422, "VALIDATION_ERROR",
    ),
    (
        "an unknown field",
        lambda ids: ("PATCH", f"/api/functions/{ids['fn']}", {"replicas": 2, "owner": "me"}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a manifest of 64 KiB + 1 byte",
        lambda ids: ("POST", "/api/v1/deploy",
                     {"workspace_id": ids["ws"], "app_name": "f",
                      "manifest": MANIFEST_HEAD + "a" * MAX_MANIFEST_BYTES}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a manifest of 20000 three-byte characters (60 KB, 20 k characters)",
        lambda ids: ("POST", "/api/v1/deploy",
                     {"workspace_id": ids["ws"], "app_name": "f",
                      "manifest": MANIFEST_HEAD + "€" * 22000}),
        422, "VALIDATION_ERROR",
    ),
    (
        "scaffold variables over the bound",
        lambda ids: ("POST", "/api/v1/scaffold",
                     {"workspace_id": ids["ws"], "app_name": "f", "image_url": "r/x:1",
                      "variables": _variables(MAX_VARIABLES + 1)}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a resource quantity of 33 characters",
        lambda ids: ("POST", "/api/v1/scaffold",
                     {"workspace_id": ids["ws"], "app_name": "f", "image_url": "r/x:1",
                      "resources": {"limits": {"cpu": "1" * 33}}}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a resource other than cpu and memory",
        lambda ids: ("POST", "/api/v1/scaffold",
                     {"workspace_id": ids["ws"], "app_name": "f", "image_url": "r/x:1",
                      "resources": {"limits": {"gpu": "1"}}}),
        422, "VALIDATION_ERROR",
    ),
    (
        "an image url with spaces",
        lambda ids: ("POST", "/api/v1/scaffold",
                     {"workspace_id": ids["ws"], "app_name": "f", "image_url": "r/x :1"}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a wasm path of 1025 characters",
        lambda ids: ("POST", "/api/v1/push",
                     {"workspace_id": ids["ws"], "app_name": "f",
                      "wasm_path": "s3://b/build-artifacts/" + "a" * 1002}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a task id of 65 characters",
        lambda ids: ("POST", "/api/v1/push", {"workspace_id": ids["ws"], "task_id": "a" * 65}),
        422, "VALIDATION_ERROR",
    ),
    (
        "a JSON body over 1 MiB",
        lambda ids: ("PATCH", f"/api/workspaces/{ids['ws']}", {"description": "a" * 1_100_000}),
        413, "PAYLOAD_TOO_LARGE",
    ),
]  # fmt: skip


@pytest.fixture
async def ids(client: httpx.AsyncClient) -> dict[str, str]:
    workspace = await create_workspace(client)
    function = await create_function(client, workspace["id"], "f")
    return {"ws": workspace["id"], "fn": function["id"]}


async def test_a_value_over_its_bound_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, settings: Settings, ids: dict[str, str]
) -> None:
    # One app and one emulator state for all cases: each compares before and after itself.
    async with stored_state_reader(settings) as stored:
        for what, build, status, code in REFUSED:
            await _refused_without_a_trace(client, stored, ids, what, build, status, code)


async def _refused_without_a_trace(
    client: httpx.AsyncClient,
    stored: StateReader,
    ids: dict[str, str],
    what: str,
    build: Body,
    status: int,
    code: str,
) -> None:
    before = await stored()
    method, url, body = build(ids)
    # ensure_ascii: an unpaired surrogate travels as the JSON escape \ud800.
    answer = await client.request(
        method, url, content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == status, f"{what}: {answer.text[:300]}"
    assert answer.headers["content-type"] == "application/problem+json", what
    assert answer.json()["code"] == code, what
    assert await stored() == before, what


async def test_values_at_their_bounds_are_stored_and_read_back(
    client: httpx.AsyncClient, ids: dict[str, str]
) -> None:
    variables = _variables(15, "😀" * (MAX_VARIABLE_VALUE_BYTES // 4))  # 15 of 4 KiB: under 64 KiB
    assert sum(len(k) + len(v.encode()) for k, v in variables.items()) <= MAX_VARIABLES_BYTES
    answer = await client.patch(
        f"/api/functions/{ids['fn']}",
        json={"variables": variables, "description": "é" * MAX_DESCRIPTION_CHARS},
    )
    assert answer.status_code == 200, answer.text
    read = (await client.get(f"/api/functions/{ids['fn']}")).json()
    assert read["variables"] == variables
    assert read["description"] == "é" * MAX_DESCRIPTION_CHARS
    many = await client.patch(
        f"/api/functions/{ids['fn']}", json={"variables": _variables(MAX_VARIABLES)}
    )
    assert many.status_code == 200, many.text
    manifest = MANIFEST_HEAD + "a" * (MAX_MANIFEST_BYTES - len(MANIFEST_HEAD))
    deploy = await client.post(
        "/api/v1/deploy", json={"workspace_id": ids["ws"], "app_name": "f", "manifest": manifest}
    )
    assert deploy.status_code == 202, deploy.text
    task = (await client.get(f"/api/v1/tasks/{deploy.json()['task_id']}")).json()
    assert task["status"] == "pending"
    listed = await client.get(f"/api/workspaces/{ids['ws']}/functions")
    assert listed.status_code == 200
