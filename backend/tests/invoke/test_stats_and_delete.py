"""Invocation figures, runtime logs, and undeploy when a function or workspace is deleted."""

import asyncio
import time

import boto3
import httpx
import pytest

from app.config import Settings
from testing.fake_infra import FakeInfraService
from tests.invoke.conftest import deployed_function
from tests.tasks.conftest import pipeline_settings, running_backend, upload


async def test_stats_count_invocations_errors_and_durations(
    api: httpx.AsyncClient, function: dict
) -> None:
    path = f"/api/functions/{function['id']}"
    empty = (await api.get(f"{path}/stats")).json()
    assert (empty["count"], empty["errors"], empty["p50_ms"], empty["last_invoked_at"]) == (
        0, 0, None, None,
    )  # fmt: skip
    for _ in range(8):
        await api.get(f"{path}/invoke/")
    await api.get(f"{path}/invoke/status/500")
    await api.get(f"{path}/invoke/status/404")  # the caller's problem, not an error
    stats = (await api.get(f"{path}/stats")).json()
    assert stats["count"] == 10 and stats["errors"] == 1
    assert 0 < stats["p50_ms"] <= stats["p95_ms"] < 5000
    assert stats["last_invoked_at"]


async def test_replicas_add_up_through_storage(
    settings: Settings, fake_infra: FakeInfraService
) -> None:
    quick = pipeline_settings(settings, fake_infra.url, invoke_stats_flush_seconds=0.1)
    async with running_backend(quick) as one, running_backend(quick) as two:
        workspace = (await one.post("/api/workspaces", json={"name": "pair"})).json()
        function = await deployed_function(one, workspace["id"])
        path = f"/api/functions/{function['id']}"
        for client in (one, two, two):
            assert (await client.get(f"{path}/invoke/")).status_code == 200
        deadline = time.monotonic() + 10
        while True:
            seen = [(await client.get(f"{path}/stats")).json() for client in (one, two)]
            if all(s["count"] == 3 and s["pending"] == 0 for s in seen):
                break
            assert time.monotonic() < deadline, seen
            await asyncio.sleep(0.1)


async def test_runtime_logs_come_with_build_and_pipeline_lines(
    api: httpx.AsyncClient, function: dict
) -> None:
    path = f"/api/functions/{function['id']}"
    await api.get(f"{path}/invoke/print/first", headers={"X-Invocation-Id": "inv-1"})
    await api.get(f"{path}/invoke/print/second")
    runtime = (await api.get(f"{path}/logs", params={"source": "runtime"})).json()["items"]
    assert [e["message"] for e in runtime] == [
        "first", "GET /print/first -> 200", "second", "GET /print/second -> 200",
    ]  # fmt: skip
    assert runtime[0]["invocation_id"] == "inv-1" and runtime[0]["stream"] == "stdout"
    assert runtime[1]["stream"] == "stderr" and runtime[0]["replica"] == "g1-r0"
    assert all(e["source"] == "runtime" and e["task_id"] is None for e in runtime)

    everything = (await api.get(f"{path}/logs")).json()["items"]
    assert {e["source"] for e in everything} == {"pipeline", "runtime"}
    times = [e["time"] for e in everything]
    assert everything[-1]["message"] == "GET /print/second -> 200"
    assert len(times) == len(runtime) + len(
        (await api.get(f"{path}/logs", params={"source": "pipeline"})).json()["items"]
    )
    after = (await api.get(f"{path}/logs", params={"since": runtime[1]["time"]})).json()["items"]
    assert [e["message"] for e in after] == ["second", "GET /print/second -> 200"]
    tail = (await api.get(f"{path}/logs", params={"source": "runtime", "tail": 1})).json()
    assert [e["message"] for e in tail["items"]] == ["GET /print/second -> 200"]
    bad = await api.get(f"{path}/logs", params={"since": "yesterday"})
    assert bad.status_code == 422 and bad.json()["code"] == "INVALID_SINCE"


async def test_runtime_logs_left_out_when_the_service_is_down_unless_asked_for_alone(
    api: httpx.AsyncClient, function: dict, fake_infra: FakeInfraService
) -> None:
    path = f"/api/functions/{function['id']}"
    fake_infra.unavailable(kind="deploy")
    everything = await api.get(f"{path}/logs")
    assert everything.status_code == 200
    assert {e["source"] for e in everything.json()["items"]} == {"pipeline"}
    alone = await api.get(f"{path}/logs", params={"source": "runtime"})
    assert alone.status_code == 503 and alone.json()["code"] == "INFRA_UNAVAILABLE"


async def test_deleting_a_function_undeploys_it_first(
    api: httpx.AsyncClient, function: dict, fake_infra: FakeInfraService
) -> None:
    endpoint = function["endpoint"]
    async with httpx.AsyncClient() as direct:
        assert (await direct.get(endpoint + "/")).text == "hello from hello"
    response = await api.delete(f"/api/functions/{function['id']}")
    assert response.status_code == 204
    assert fake_infra.runtime.apps == []
    async with httpx.AsyncClient() as direct:
        gone = await direct.get(endpoint + "/")
    assert gone.status_code == 404 and gone.json()["code"] == "FUNCTION_NOT_DEPLOYED"
    assert (await api.get(f"/api/functions/{function['id']}")).status_code == 404


async def test_a_function_is_kept_when_the_deploy_service_is_down(
    api: httpx.AsyncClient, function: dict, fake_infra: FakeInfraService
) -> None:
    fake_infra.down()
    response = await api.delete(f"/api/functions/{function['id']}")
    assert response.status_code == 503
    assert response.json()["code"] == "INFRA_UNAVAILABLE" and response.headers["retry-after"]
    assert (await api.get(f"/api/functions/{function['id']}")).status_code == 200
    assert (await api.get(f"/api/functions/{function['id']}/invoke/")).status_code == 200
    fake_infra.up()
    assert (await api.delete(f"/api/functions/{function['id']}")).status_code == 204


async def test_a_function_with_a_running_task_is_not_deleted(
    api: httpx.AsyncClient, function: dict, workspace: dict, fake_infra: FakeInfraService
) -> None:
    fake_infra.succeed_after("build", polls=1000)
    started = await upload(api, workspace["id"], path=f"/api/functions/{function['id']}/deploy")
    assert started.status_code == 202
    response = await api.delete(f"/api/functions/{function['id']}")
    assert response.status_code == 409 and response.json()["code"] == "TASK_IN_PROGRESS"
    assert fake_infra.runtime.apps == [(f"faas-{workspace['id']}", "hello")]
    assert (await api.get(f"/api/functions/{function['id']}")).status_code == 200


async def test_deleting_a_workspace_with_cascade_undeploys_its_functions(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    await deployed_function(api, workspace["id"], "one")
    await deployed_function(api, workspace["id"], "two")
    namespace = f"faas-{workspace['id']}"
    assert fake_infra.runtime.apps == [(namespace, "one"), (namespace, "two")]
    fake_infra.down()
    refused = await api.delete(f"/api/workspaces/{workspace['id']}", params={"cascade": "true"})
    assert refused.status_code == 503
    assert (await api.get(f"/api/workspaces/{workspace['id']}")).status_code == 200
    fake_infra.up()
    response = await api.delete(f"/api/workspaces/{workspace['id']}", params={"cascade": "true"})
    assert response.status_code == 204
    assert fake_infra.runtime.apps == []


@pytest.mark.parametrize("route", ["invoke/", "stats", "logs"])
async def test_a_deleted_function_is_404_everywhere(
    api: httpx.AsyncClient, function: dict, route: str
) -> None:
    assert (await api.get(f"/api/functions/{function['id']}/invoke/")).status_code == 200
    assert (await api.delete(f"/api/functions/{function['id']}")).status_code == 204
    response = await api.get(f"/api/functions/{function['id']}/{route}")
    assert response.status_code == 404 and response.json()["code"] == "FUNCTION_NOT_FOUND"


async def test_a_function_deployed_before_its_record_kept_the_app_name_is_undeployed_too(
    api: httpx.AsyncClient, function: dict, fast_settings: Settings, fake_infra: FakeInfraService
) -> None:
    table = boto3.client(
        "dynamodb",
        endpoint_url=fast_settings.dynamodb_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    table.update_item(
        TableName=fast_settings.dynamodb_table,
        Key={"PK": {"S": f"WS#{function['workspace_id']}"}, "SK": {"S": f"FN#{function['id']}"}},
        UpdateExpression="REMOVE deployed_namespace, deployed_name",
    )
    assert fake_infra.runtime.apps == [(f"faas-{function['workspace_id']}", "hello")]
    assert (await api.delete(f"/api/functions/{function['id']}")).status_code == 204
    assert fake_infra.runtime.apps == []
