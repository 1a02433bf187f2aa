"""The invoke proxy against a real HTTP server: the fake deploy service's echo app."""

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from app.config import Settings
from testing.fake_infra import FakeInfraService
from tests.conftest import create_function
from tests.invoke.conftest import deployed_function
from tests.tasks.conftest import pipeline_settings, running_backend


def _invoke(function: dict, rest: str = "") -> str:
    return f"/api/functions/{function['id']}/invoke{rest}"


async def test_invoke_answers_the_functions_body_status_and_headers(
    api: httpx.AsyncClient, function: dict
) -> None:
    response = await api.get(_invoke(function, "/"))
    assert response.status_code == 200
    assert response.text == "hello from hello"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-invocation-id"]
    assert float(response.headers["x-duration-ms"]) >= 0
    # Without a trailing path the function is called at "/".
    assert (await api.get(_invoke(function))).text == "hello from hello"


async def test_method_path_query_headers_and_body_reach_the_function(
    api: httpx.AsyncClient, function: dict
) -> None:
    response = await api.put(
        _invoke(function, "/echo/a%20b%2Fc/d?x=1&y=two"),
        content=b"payload \xe2\x9c\x93",
        headers={"X-Custom": "yes", "Content-Type": "text/plain", "Authorization": "Bearer t"},
    )
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert echoed["method"] == "PUT"
    assert echoed["path"] == "/echo/a%20b%2Fc/d"  # as sent: %2F stays inside its segment
    assert echoed["query"] == "x=1&y=two"
    assert echoed["body"] == "payload ✓"
    assert echoed["headers"]["x-custom"] == "yes"
    assert echoed["headers"]["content-type"] == "text/plain"
    assert "authorization" not in echoed["headers"]  # our credential, not the function's


async def test_hop_by_hop_headers_are_dropped_both_ways(
    api: httpx.AsyncClient, function: dict
) -> None:
    response = await api.get(
        _invoke(function, "/echo"),
        headers={"Connection": "keep-alive, X-Private", "X-Private": "1", "TE": "trailers"},
    )
    echoed = response.json()["headers"]
    assert "x-private" not in echoed and "te" not in echoed
    assert "keep-alive" not in response.headers  # the function sent one
    assert len(response.headers.get_list("date")) <= 1
    assert len(response.headers.get_list("server")) <= 1


async def test_the_callers_invocation_id_is_kept_when_valid(
    api: httpx.AsyncClient, function: dict
) -> None:
    given = await api.get(_invoke(function, "/echo"), headers={"X-Invocation-Id": "abc-123.x:y"})
    assert given.headers["x-invocation-id"] == "abc-123.x:y"
    assert given.json()["headers"]["x-invocation-id"] == "abc-123.x:y"
    bad = await api.get(_invoke(function, "/echo"), headers={"X-Invocation-Id": "no spaces!"})
    made = bad.headers["x-invocation-id"]
    assert made != "no spaces!" and bad.json()["headers"]["x-invocation-id"] == made
    assert len(bad.headers.get_list("x-invocation-id")) == 1


async def test_the_functions_own_5xx_passes_through_as_it_is(
    api: httpx.AsyncClient, function: dict
) -> None:
    response = await api.post(_invoke(function, "/status/503"))
    assert response.status_code == 503
    assert response.text == "status 503"
    assert not response.headers["content-type"].startswith("application/problem+json")


async def test_every_method_is_forwarded(api: httpx.AsyncClient, function: dict) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        response = await api.request(method, _invoke(function, "/echo"))
        assert response.status_code == 200, (method, response.text)
        assert response.json()["method"] == method
    head = await api.head(_invoke(function, "/bytes/10"))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == "10"


async def test_a_function_not_deployed_is_409(api: httpx.AsyncClient, workspace: dict) -> None:
    function = await create_function(api, workspace["id"], "idle")
    response = await api.get(_invoke(function, "/"))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "FUNCTION_NOT_DEPLOYED"


async def test_an_unknown_function_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/functions/01J0000000000000000000000/invoke/")
    assert response.status_code == 404
    assert response.json()["code"] == "FUNCTION_NOT_FOUND"


async def test_the_gateways_problem_passes_through(
    api: httpx.AsyncClient, function: dict, fake_infra: FakeInfraService
) -> None:
    app = fake_infra.runtime.app(f"faas-{function['workspace_id']}", "hello")
    assert app is not None
    app.replicas = 0
    response = await api.get(_invoke(function, "/"))
    assert response.status_code == 503
    assert response.json()["code"] == "FUNCTION_SCALED_TO_ZERO"
    assert response.headers["retry-after"] == "1"


async def test_large_answers_stream_through(api: httpx.AsyncClient, function: dict) -> None:
    size = 3 * 1024 * 1024
    for kind in ("bytes", "stream"):
        response = await api.get(_invoke(function, f"/{kind}/{size}"))
        assert response.status_code == 200
        assert response.content == b"x" * size


@pytest.fixture
async def tight(
    settings: Settings, fake_infra: FakeInfraService
) -> AsyncIterator[httpx.AsyncClient]:
    """A backend with small invoke limits: 64 KiB each way, 1 s."""
    limited = pipeline_settings(
        settings,
        fake_infra.url,
        invoke_max_request_bytes=64 * 1024,
        invoke_max_response_bytes=64 * 1024,
        invoke_timeout_seconds=1.0,
    )
    async with running_backend(limited) as http:
        yield http


async def _deployed(api: httpx.AsyncClient) -> dict:
    workspace = (await api.post("/api/workspaces", json={"name": "tight"})).json()
    return await deployed_function(api, workspace["id"])


async def test_a_request_body_over_the_limit_is_413(tight: httpx.AsyncClient) -> None:
    function = await _deployed(tight)
    response = await tight.post(_invoke(function, "/echo"), content=b"x" * (64 * 1024 + 1))
    assert response.status_code == 413
    assert response.json()["code"] == "REQUEST_TOO_LARGE"
    assert response.json()["limit_bytes"] == 64 * 1024

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"y" * 8192

    streamed = await tight.post(_invoke(function, "/echo"), content=chunks())
    assert streamed.status_code == 413
    assert streamed.json()["code"] == "REQUEST_TOO_LARGE"
    ok = await tight.post(_invoke(function, "/status/200"), content=b"x" * (64 * 1024))
    assert ok.status_code == 200 and ok.text == "status 200"


async def test_an_answer_over_the_limit_is_502(tight: httpx.AsyncClient) -> None:
    function = await _deployed(tight)
    response = await tight.get(_invoke(function, f"/bytes/{64 * 1024 + 1}"))
    assert response.status_code == 502
    assert response.json()["code"] == "RESPONSE_TOO_LARGE"
    chunked = await tight.get(_invoke(function, f"/stream/{64 * 1024 + 1}"))
    assert chunked.status_code == 502
    assert chunked.json()["code"] == "RESPONSE_TOO_LARGE"


async def test_a_function_slower_than_the_timeout_is_504(tight: httpx.AsyncClient) -> None:
    function = await _deployed(tight)
    started = asyncio.get_running_loop().time()
    response = await tight.get(_invoke(function, "/sleep/3"))
    took = asyncio.get_running_loop().time() - started
    assert response.status_code == 504
    assert response.json()["code"] == "FUNCTION_TIMEOUT"
    assert response.headers["x-invocation-id"]
    assert took < 2.5
    assert (await tight.get(_invoke(function, "/sleep/0.1"))).text == "awake"


async def test_an_endpoint_that_cannot_be_reached_is_503(
    api: httpx.AsyncClient, function: dict, fake_infra: FakeInfraService
) -> None:
    fake_infra.runtime.stop()
    response = await api.get(_invoke(function, "/"))
    assert response.status_code == 503
    assert response.json()["code"] == "FUNCTION_UNAVAILABLE"
    assert response.headers["retry-after"]


async def test_a_body_that_is_not_text_comes_back_byte_for_byte(
    api: httpx.AsyncClient, function: dict
) -> None:
    payload = bytes(range(256)) * 4
    response = await api.post(_invoke(function, "/echo"), content=payload)
    assert json.loads(response.content)["body"] == payload.decode("utf-8", "replace")


async def test_a_large_request_body_streams_to_the_function_intact(
    api: httpx.AsyncClient, function: dict
) -> None:
    payload = b"0123456789abcdef" * (3 * 1024 * 1024 // 16)  # 3 MiB: over the buffered size
    response = await api.post(_invoke(function, "/echo"), content=payload)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["body"].encode() == payload
