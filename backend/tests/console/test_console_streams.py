"""The console follows a task's event stream: events applied as they come, resumed after a drop.

The backend's own stream route (GET /api/v1/tasks/{id}/events, SPEC §9) is built in parallel;
here the browser's requests for the task are answered by a script (Playwright routes), so
what is checked is the console's side of the protocol: the text/event-stream parsing (CRLF,
comments as heartbeats, multi-line data), state and log lines applied from events, and the
reconnection with Last-Event-ID. Without the route, the flow tests cover the polling fallback.
"""

import json

from playwright.sync_api import Page, Route, expect

from tests.console.conftest import LiveBackend, screenshot

TASK_ID = "01jscriptedtask0000000000a"
WORKSPACE_ID = "01jscriptedworkspace00000a"


def _task(status: str, build: str, **fields: object) -> dict:
    return {
        "task_id": TASK_ID, "workspace_id": WORKSPACE_ID, "app_name": "streamed",
        "function_id": None, "type": "build", "status": status,
        "stage": "build", "stages": [{"name": "build", "status": build,
                                      "started_at": "2026-11-01T10:00:00Z", "finished_at": None}],
        "result": {}, "error_code": None, "error_message": None,
        "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-01T10:00:01Z",
    } | fields  # fmt: skip


def _event(event_id: int, name: str, data: object) -> str:
    lines = json.dumps(data, indent=1).splitlines()  # several data: lines, joined by the client
    return (
        f"id: {event_id}\r\nevent: {name}\r\n"
        + "".join(f"data: {line}\r\n" for line in lines)
        + "\r\n"
    )


def test_events_are_applied_live_and_the_stream_resumes_from_the_last_id(
    live: LiveBackend, page: Page
) -> None:
    state = {"task": _task("pending", "pending"), "logs": []}
    streams: list[Route] = []

    def task_route(route: Route) -> None:
        url = route.request.url
        if url.endswith("/events"):
            streams.append(route)
            if len(streams) == 1:
                route.fulfill(
                    status=200,
                    headers={"content-type": "text/event-stream", "cache-control": "no-store"},
                    body=": heartbeat\r\n\r\n"
                    + _event(1, "status", {"status": "running", "stage": "build",
                                           "stages": _task("running", "running")["stages"]})
                    + _event(2, "log", {"source": "build", "message": "Compiling app.py"}),
                )  # fmt: skip
            return  # the reconnection is answered below, once the first events were checked
        body = state["task"] if url.endswith(TASK_ID) else {"items": state["logs"]}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route(f"**/api/v1/tasks/{TASK_ID}**", task_route)
    page.goto(live.console(f"#/tasks/{TASK_ID}"))

    watch = page.locator(".task-watch")
    expect(watch.get_by_role("log", name="Build log")).to_have_text("Compiling app.py")
    expect(watch.locator(".stage-running")).to_contain_text("build")  # only the stream said so
    expect(watch.locator(".live-state")).to_have_text(
        "Connecting to the task's event stream…"  # the server closed it: reconnecting
    )
    for _ in range(100):
        if len(streams) == 2:
            break
        page.wait_for_timeout(50)
    assert len(streams) == 2, "the console did not reconnect"
    assert streams[1].request.headers.get("last-event-id") == "2"
    screenshot(page, "07-task-streaming")

    final_logs = [
        {"time": "2026-11-01T10:00:02Z", "source": "build", "task_id": TASK_ID,
         "stage": "build", "level": "info", "message": line}
        for line in ("Compiling app.py", "Linking streamed.wasm")
    ]  # fmt: skip
    state["task"] = _task("completed", "completed", updated_at="2026-11-01T10:00:03Z")
    state["logs"] = final_logs
    streams[1].fulfill(
        status=200,
        headers={"content-type": "text/event-stream"},
        body=_event(3, "log", {"source": "build", "message": "Linking streamed.wasm"})
        + _event(4, "end", {"task": state["task"]}),
    )
    expect(watch.locator(".task-summary .badge")).to_have_text("completed")
    expect(watch.get_by_role("log", name="Build log")).to_have_text(
        "Compiling app.py\nLinking streamed.wasm"
    )
    expect(watch.locator(".live-state")).to_have_text("")
    assert len(streams) == 2  # the end event closed it for good
