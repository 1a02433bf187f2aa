"""Following a task: through its event stream when there is one, else by polling.

The backend's SSE route is built in parallel (SPEC §9); until it is on main, the stream side is
checked here against an httpx mock transport speaking text/event-stream, and the polling side
against the real backend in test_deploy.py. Once the route lands, those tests go through it.
"""

import json
from typing import Any

import httpx
import pytest

from faas_cli.client import ApiClient
from faas_cli.errors import CliError, ExitCode
from faas_cli.follow import follow, sse_events
from faas_cli.output import Output, OutputMode


def _task(status: str, stage: str, done: list[str]) -> dict[str, Any]:
    stages: list[dict[str, Any]] = [
        {"name": name, "status": "completed", "started_at": "2026-01-01T00:00:00.000Z",
         "finished_at": "2026-01-01T00:00:01.500Z"}
        for name in done
    ]  # fmt: skip
    if status != "completed":
        stages.append(
            {"name": stage, "status": status, "started_at": "2026-01-01T00:00:02.000Z",
             "finished_at": None if status == "running" else "2026-01-01T00:00:02.250Z"}
        )  # fmt: skip
    failed = status == "failed"
    return {
        "task_id": "t1", "type": "build-and-push", "status": status, "stage": stage,
        "stages": stages, "result": {}, "error_code": "BUILD_FAILED" if failed else None,
        "error_message": "app.py:1: boom" if failed else None,
    }  # fmt: skip


RUNNING = _task("running", "build", [])
PUSHING = _task("running", "push", ["build"])
DONE = _task("completed", "push", ["build", "push"])


def _sse(*tasks: dict[str, Any]) -> bytes:
    chunks = [": keep-alive\n\n"]
    chunks += [f"event: task\nid: {i}\ndata: {json.dumps(t)}\n\n" for i, t in enumerate(tasks)]
    return "".join(chunks).encode()


class FakeApi:
    """Answers /events and /tasks/{id} as configured, and counts what was asked."""

    def __init__(self, *, stream: bytes | None, polls: list[dict[str, Any]]) -> None:
        self.stream = stream
        self.polls = list(polls)
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        if request.url.path.endswith("/events"):
            if self.stream is None:
                return httpx.Response(
                    404,
                    json={"code": "NOT_FOUND", "title": "Not found", "detail": "Not Found"},
                    headers={"content-type": "application/problem+json"},
                )
            assert request.headers["accept"] == "text/event-stream"
            return httpx.Response(
                200, content=self.stream, headers={"content-type": "text/event-stream"}
            )
        return httpx.Response(200, json=self.polls.pop(0) if len(self.polls) > 1 else self.polls[0])

    def client(self) -> ApiClient:
        return ApiClient(base_url="http://api.test", transport=httpx.MockTransport(self))


def test_sse_parsing_joins_data_lines_and_skips_comments() -> None:
    lines = [": hi", "event: task", 'data: {"a":', "data: 1}", "", "data: x", ""]
    assert list(sse_events(iter(lines))) == [("task", '{"a":\n1}'), ("message", "x")]


def test_the_event_stream_is_followed_to_the_end_without_polling(
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = FakeApi(stream=_sse(RUNNING, PUSHING, DONE), polls=[RUNNING])
    final = follow(api.client(), Output(OutputMode.text), RUNNING, interval=0)
    assert final["status"] == "completed"
    assert api.requests == ["/api/v1/tasks/t1/events"]
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in printed] == [
        ["✓", "build", "1.50s"],
        ["✓", "push", "1.50s"],
    ]


def test_without_a_stream_the_task_is_polled_until_it_ends() -> None:
    api = FakeApi(stream=None, polls=[RUNNING, PUSHING, PUSHING, DONE])
    final = follow(api.client(), Output(OutputMode.json), RUNNING, interval=0)
    assert final == DONE
    assert api.requests == ["/api/v1/tasks/t1/events"] + ["/api/v1/tasks/t1"] * 4


def test_a_stream_that_ends_early_is_continued_by_polling() -> None:
    api = FakeApi(stream=_sse(RUNNING), polls=[PUSHING, DONE])
    final = follow(api.client(), Output(OutputMode.json), RUNNING, interval=0)
    assert final == DONE
    assert api.requests.count("/api/v1/tasks/t1") == 2


def test_a_failed_stage_is_shown_with_its_mark(capsys: pytest.CaptureFixture[str]) -> None:
    failed = _task("failed", "build", [])
    api = FakeApi(stream=_sse(RUNNING, failed), polls=[failed])
    assert follow(api.client(), Output(OutputMode.text), RUNNING, interval=0)["status"] == "failed"
    assert capsys.readouterr().out.split() == ["✗", "build", "0.25s", "failed"]


def test_a_network_error_while_following_names_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = ApiClient(base_url="http://api.test:9", transport=httpx.MockTransport(refuse))
    with pytest.raises(CliError) as caught:
        follow(client, Output(OutputMode.json), RUNNING, interval=0)
    assert caught.value.code == "NETWORK_ERROR"
    assert caught.value.exit_code == ExitCode.UNREACHABLE
    assert "http://api.test:9/api/v1/tasks/t1" in caught.value.title


def test_a_dropped_stream_is_resumed_with_the_last_event_id_before_any_poll() -> None:
    class Resuming(FakeApi):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/events"):
                self.requests.append(f"events after {request.headers.get('last-event-id')}")
                body = (
                    _sse(RUNNING)
                    if "last-event-id" not in request.headers
                    else b'id: 0.3.0\nevent: log\ndata: {"source": "build", "message": "ok"}\n\n'
                    + f"id: 1.3.0\nevent: end\ndata: {json.dumps(DONE)}\n\n".encode()
                )
                return httpx.Response(
                    200, content=body, headers={"content-type": "text/event-stream"}
                )
            return super().__call__(request)

    api = Resuming(stream=b"", polls=[RUNNING])
    lines: list[str] = []
    final = follow(
        api.client(), Output(OutputMode.json), RUNNING, interval=0,
        on_log=lambda entry: lines.append(entry["message"]),
    )  # fmt: skip
    assert final == DONE
    assert api.requests == ["events after None", "events after 0"]
    assert lines == ["ok"]
