"""POST /api/functions/{id}/test: a build run once in the (fake) deploy service's sandbox."""

import json

import httpx

from testing.fake_infra import FakeInfraService
from tests.conftest import create_function
from tests.invoke.conftest import deployed_function
from tests.tasks.conftest import upload, wait_for_task


def _test(function: dict) -> str:
    return f"/api/functions/{function['id']}/test"


async def test_the_latest_build_answers_with_status_headers_body_and_output(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    function = await deployed_function(api, workspace["id"], "tester", variables={"tone": "warm"})
    response = await api.post(
        _test(function),
        json={"method": "post", "path": "/echo/x?q=1", "headers": {"x-a": "b"}, "body": "hi"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == 200
    assert result["task_id"] == function["latest_task_id"]
    assert result["error_code"] is None and result["body_encoding"] == "utf-8"
    assert result["headers"]["content-type"] == "application/json"
    assert {"stdout", "stderr", "duration_ms", "error_message"} <= set(result)
    echoed = json.loads(result["body"])
    assert (echoed["method"], echoed["path"], echoed["query"]) == ("POST", "/echo/x", "q=1")
    assert echoed["headers"]["x-a"] == "b" and echoed["body"] == "hi"
    # The function's variables go with it.
    variables = await api.post(_test(function), json={"path": "/variables"})
    assert json.loads(variables.json()["body"]) == {"tone": "warm"}
    [sent, _] = fake_infra.runtime.test_requests
    assert sent["wasm_path"] == function["wasm_path"]
    assert sent["app_name"] == "tester"


async def test_output_and_base64_bodies(api: httpx.AsyncClient, workspace: dict) -> None:
    function = await deployed_function(api, workspace["id"])
    printed = (await api.post(_test(function), json={"path": "/print/ahoy"})).json()
    assert printed["stdout"] == "ahoy\n" and printed["body"] == "ahoy"
    encoded = await api.post(
        _test(function), json={"path": "/echo", "body": "aGk=", "body_encoding": "base64"}
    )
    assert json.loads(encoded.json()["body"])["body"] == "hi"


async def test_a_given_task_of_this_function_is_tested(
    api: httpx.AsyncClient, workspace: dict
) -> None:
    function = await deployed_function(api, workspace["id"])
    first = function["latest_task_id"]
    again = await upload(api, workspace["id"], path=f"/api/functions/{function['id']}/deploy")
    await wait_for_task(api, again.json()["task_id"])
    result = (await api.post(_test(function), json={"task_id": first})).json()
    assert result["task_id"] == first and result["status"] == 200
    latest = (await api.post(_test(function), json={})).json()
    assert latest["task_id"] == again.json()["task_id"]


async def test_a_task_of_another_function_is_404(api: httpx.AsyncClient, workspace: dict) -> None:
    mine = await deployed_function(api, workspace["id"], "mine")
    other = await deployed_function(api, workspace["id"], "other")
    response = await api.post(_test(mine), json={"task_id": other["latest_task_id"]})
    assert response.status_code == 404
    assert response.json()["code"] == "TASK_NOT_FOUND"
    unknown = await api.post(_test(mine), json={"task_id": "01J0000000000000000000000"})
    assert unknown.status_code == 404


async def test_a_build_not_finished_is_409(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    function = await create_function(api, workspace["id"], "slow")
    nothing = await api.post(_test(function), json={})
    assert nothing.status_code == 409 and nothing.json()["code"] == "NO_BUILD"
    fake_infra.succeed_after("build", polls=1000)
    started = await upload(api, workspace["id"], path=f"/api/functions/{function['id']}/deploy")
    task_id = started.json()["task_id"]
    response = await api.post(_test(function), json={"task_id": task_id})
    assert response.status_code == 409
    assert response.json()["code"] == "BUILD_NOT_READY"


async def test_a_failed_build_is_not_tested(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    function = await create_function(api, workspace["id"], "broken")
    fake_infra.fail("build")
    started = await upload(api, workspace["id"], path=f"/api/functions/{function['id']}/deploy")
    await wait_for_task(api, started.json()["task_id"])
    response = await api.post(_test(function), json={})
    assert response.status_code == 409 and response.json()["code"] == "NO_BUILD"


async def test_bad_requests_are_422_and_reach_nothing(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    function = await deployed_function(api, workspace["id"])
    for body in (
        {"path": "no-slash"},
        {"method": "GE T"},
        {"method": None},
        {"headers": None},
        {"headers": {"bad name": "x"}},
        {"headers": {"x": "line\nbreak"}},
        {"body": "%%%", "body_encoding": "base64"},
        {"body_encoding": "utf-16"},
        {"unknown": 1},
        {"body": "x" * (512 * 1024 + 1)},
    ):
        response = await api.post(_test(function), json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert fake_infra.runtime.test_requests == []


async def test_the_deploy_service_down_is_503_with_retry_after(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    function = await deployed_function(api, workspace["id"])
    fake_infra.unavailable(1, kind="deploy")
    response = await api.post(_test(function), json={})
    assert response.status_code == 503
    assert response.json()["code"] == "INFRA_UNAVAILABLE"
    assert response.headers["retry-after"]
    fake_infra.down()
    response = await api.post(_test(function), json={})
    assert response.status_code == 503 and response.json()["code"] == "INFRA_UNAVAILABLE"
