"""What the streams cost and refuse: shared reads, strangers, slow clients, heartbeats."""

import asyncio
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from app.observability.metrics import SSE_CUT_OFF, dynamodb_requests
from testing.fake_infra import FakeInfraService
from testing.live_server import serving
from tests.auth.conftest import CLIENT_ID, Issuer, bearer
from tests.auth.conftest import issuer as issuer
from tests.conftest import with_overrides
from tests.events.conftest import Reader, build_job_key, events_settings, start_build

TABLE_READS = ("GetItem", "BatchGetItem", "Query", "Scan")


def _reads_since(before: dict[str, float]) -> dict[str, float]:
    now = dynamodb_requests()
    return {op: now.get(op, 0) - before.get(op, 0) for op in set(now) | set(before)}


async def _watch(live: httpx.AsyncClient, infra: FakeInfraService, subscribers: int) -> dict:
    """Run one build watched by `subscribers` clients; DynamoDB requests made meanwhile."""
    infra.succeed_after("build", polls=8)
    task = await start_build(live)
    path = f"/api/v1/tasks/{task['task_id']}/events"
    opened = asyncio.Event()
    connected = 0

    async def follow() -> list[tuple[str, str]]:
        nonlocal connected
        async with live.stream("GET", path) as response:
            reader = Reader(response)
            first = await reader.next()
            assert first is not None and first.event == "task"
            connected += 1
            if connected == subscribers:
                opened.set()
            rest = await reader.all()
            # Log lines and the end are the same for all; `task` frames are state, and each
            # connection starts with the task as it was when it joined.
            return [(e.event, e.data) for e in rest if e.event != "task"]

    watchers = [asyncio.create_task(follow()) for _ in range(subscribers)]
    await asyncio.wait_for(opened.wait(), 60)
    before, started = dynamodb_requests(), time.monotonic()  # every subscriber is connected
    results = await asyncio.gather(*watchers)
    reads = _reads_since(before)
    assert all(result == results[0] for result in results)  # everyone saw the same events
    assert results[0][-1][0] == "end"
    return {"reads": reads, "seconds": time.monotonic() - started, "events": len(results[0])}


@pytest.fixture
def crowd_settings(settings: Settings, infra: FakeInfraService) -> Settings:
    return events_settings(
        settings, infra.url, events_max_subscribers=500, poll_interval_seconds=0.2
    )


async def test_two_hundred_subscribers_cost_the_same_dynamodb_reads_as_one(
    crowd_settings: Settings, infra: FakeInfraService
) -> None:
    with serving(create_app(crowd_settings)) as url:
        limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as live:
            one = await _watch(live, infra, 1)
            crowd = await _watch(live, infra, 200)
    print("1 subscriber:", one, "\n200 subscribers:", crowd)
    for run in (one, crowd):
        # Nothing is read from the table per change: the stream records carry the items.
        # (The poller's own due-index Queries are time-based; they are counted apart.)
        assert run["reads"].get("GetItem", 0) == 0, run
        assert run["reads"].get("BatchGetItem", 0) == 0, run
    # The stream is read by one reader whatever the number of watchers: GetRecords per second
    # of watching is the same (within scheduling noise) for 1 and for 200.
    rate_one = one["reads"].get("GetRecords", 0) / one["seconds"]
    rate_crowd = crowd["reads"].get("GetRecords", 0) / crowd["seconds"]
    assert rate_crowd <= rate_one * 1.5 + 2, (one, crowd)
    assert rate_one <= 1 / crowd_settings.events_poll_seconds + 2


@pytest.fixture
def jwt_live_settings(live_settings: Settings, issuer: Issuer) -> Settings:
    return with_overrides(
        live_settings, auth_mode="jwt", oidc_issuer=issuer.url, oidc_client_ids=[CLIENT_ID]
    )


async def test_a_stranger_gets_404_for_the_streams_of_a_workspace_not_theirs(
    jwt_live_settings: Settings,
    issuer: Issuer,
) -> None:
    alice, bob = bearer(issuer.token("alice")), bearer(issuer.token("bob"))
    with serving(create_app(jwt_live_settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=20) as live:
            task = await start_build(live, headers=alice)
            for path in (
                f"/api/v1/tasks/{task['task_id']}/events",
                f"/api/workspaces/{task['workspace_id']}/events",
            ):
                refused = await live.get(path, headers=bob)
                assert refused.status_code == 404, path
                assert refused.headers["content-type"].startswith("application/problem+json")
                nobody = await live.get(path)
                assert nobody.status_code == 401
                async with live.stream("GET", path, headers=alice) as response:
                    assert response.status_code == 200
                    first = await Reader(response).next()
                    assert first is not None


# Far more than the stalled client's socket buffers hold and its queue bound (300 frames), while
# one read of the log (16 KiB, ~32 lines) stays well under that bound for a reader that keeps up.
LINES = 1200


@pytest.fixture
def slow_settings(settings: Settings, infra: FakeInfraService) -> Settings:
    return events_settings(settings, infra.url, events_queue_frames=300)


def _stalled_client(url: str, path: str) -> Iterator[socket.socket]:
    host, port = url.removeprefix("http://").split(":")
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect((host, int(port)))
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    yield client  # never read from


async def test_a_client_that_stops_reading_is_cut_off_and_others_go_on(
    slow_settings: Settings, infra: FakeInfraService
) -> None:
    infra.succeed_after("build", polls=40)
    cut_before = SSE_CUT_OFF._value.get()
    app = create_app(slow_settings)
    with serving(app, send_buffer=4096) as url:
        async with httpx.AsyncClient(base_url=url, timeout=20) as live:
            task = await start_build(live)
            path = f"/api/v1/tasks/{task['task_id']}/events"
            stalled = _stalled_client(url, path)
            sock = next(stalled)
            hub = app.state.container.events
            async with asyncio.timeout(10):
                while hub.subscribers() < 1:  # noqa: ASYNC110 (the server thread subscribes)
                    await asyncio.sleep(0.02)
            async with live.stream("GET", path) as response:  # a reader that keeps up
                job_key = await build_job_key(infra)
                infra.append_build_log(job_key, "".join(f"{'x' * 500} {n}\n" for n in range(LINES)))
                reader = Reader(response)
                lines = 0
                while lines < LINES:
                    event = await reader.next()
                    assert event is not None
                    lines += event.event == "log" and event.json()["source"] == "build"
                # The stalled one was dropped: only the reader that keeps up is subscribed.
                assert hub.subscribers() == 1
            sock.close()
    assert SSE_CUT_OFF._value.get() > cut_before


@pytest.fixture
def quiet_settings(settings: Settings, infra: FakeInfraService) -> Settings:
    return events_settings(settings, infra.url, events_heartbeat_seconds=0.2)


async def test_an_idle_stream_carries_heartbeat_comments(
    quiet_settings: Settings, infra: FakeInfraService
) -> None:
    infra.succeed_after("build", polls=1000)  # stays running
    with serving(create_app(quiet_settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=20) as live:
            task = await start_build(live)
            async with live.stream("GET", f"/api/v1/tasks/{task['task_id']}/events") as response:
                reader = Reader(response)
                await reader.next()
                started = time.monotonic()
                async with asyncio.timeout(5):
                    await reader.comments_until(len(reader.comments) + 3)
                assert reader.comments[-3:] == ["heartbeat"] * 3
                assert time.monotonic() - started < 3


async def test_the_workspace_stream_shows_task_and_function_changes(
    live: httpx.AsyncClient, infra: FakeInfraService
) -> None:
    infra.succeed_after("build", polls=3)
    workspace = (await live.post("/api/workspaces", json={"name": "dash"})).json()
    async with live.stream("GET", f"/api/workspaces/{workspace['id']}/events") as response:
        reader = Reader(response)
        ready = await reader.next()
        assert ready is not None and ready.event == "ready"
        function = (
            await live.post(f"/api/workspaces/{workspace['id']}/functions", json={"name": "fn"})
        ).json()
        await live.post(
            f"/api/functions/{function['id']}/deploy",
            files={"file": ("app.py", b"x = 1\n")},
        )
        seen: list[tuple[str, str]] = []
        async with asyncio.timeout(20):
            while ("task", "failed") not in seen and ("task", "completed") not in seen:
                event = await reader.next()
                assert event is not None
                seen.append((event.event, event.json().get("status", "")))
        assert ("function", "") in seen
        assert seen.index(("task", "pending")) < len(seen) - 1
    resumed_from = ready.id
    async with live.stream(
        "GET", f"/api/workspaces/{workspace['id']}/events", headers={"Last-Event-ID": "x-1"}
    ) as response:
        first = await Reader(response).next()
        assert first is not None and first.event == "reset"  # an id this replica never sent
    assert resumed_from


async def test_metrics_name_the_streams_and_the_tasks(
    live: httpx.AsyncClient, infra: FakeInfraService
) -> None:
    infra.instant("build")
    await start_build(live)
    text = (await live.get("/metrics")).text
    for name in (
        "faas_tasks_created_total",
        "faas_sse_subscribers",
        "faas_dynamodb_requests_total",
        "faas_infra_request_duration_seconds",
        "faas_upload_bytes_total",
        "faas_tasks_active",
    ):
        assert name in text, name


@pytest.fixture
def poll_settings(settings: Settings, infra: FakeInfraService) -> Settings:
    return events_settings(
        settings,
        infra.url,
        events_source="poll",
        events_poll_seconds=0.1,
        events_max_subscribers=500,
        poll_interval_seconds=0.2,
    )


async def test_in_poll_mode_watchers_share_one_batch_read_per_interval(
    poll_settings: Settings, infra: FakeInfraService
) -> None:
    with serving(create_app(poll_settings)) as url:
        limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as live:
            one = await _watch(live, infra, 1)
            crowd = await _watch(live, infra, 200)
    print("poll mode, 1 subscriber:", one, "\n200 subscribers:", crowd)
    for run in (one, crowd):
        assert run["reads"].get("GetRecords", 0) == 0  # the stream is not read in this mode
        assert run["reads"].get("GetItem", 0) == 0
    rate_one = one["reads"].get("BatchGetItem", 0) / one["seconds"]
    rate_crowd = crowd["reads"].get("BatchGetItem", 0) / crowd["seconds"]
    assert 0 < rate_one <= 1 / poll_settings.events_poll_seconds + 2
    assert rate_crowd <= rate_one * 1.5 + 2, (one, crowd)


async def test_deleting_the_workspace_ends_its_streams_and_its_tasks_streams(
    live: httpx.AsyncClient, infra: FakeInfraService
) -> None:
    infra.succeed_after("build", polls=1000)  # stays running
    task = await start_build(live)
    workspace_id = task["workspace_id"]
    async with (
        live.stream("GET", f"/api/v1/tasks/{task['task_id']}/events") as task_stream,
        live.stream("GET", f"/api/workspaces/{workspace_id}/events") as workspace_stream,
    ):
        tasks, workspaces = Reader(task_stream), Reader(workspace_stream)
        assert (await tasks.next()) is not None and (await workspaces.next()) is not None
        deleted = await live.delete(f"/api/workspaces/{workspace_id}", params={"cascade": "true"})
        assert deleted.status_code == 204, deleted.text
        async with asyncio.timeout(10):
            rest_of_task = await tasks.all()
            rest_of_workspace = await workspaces.all()
    assert rest_of_task[-1].event == "deleted"
    assert rest_of_task[-1].json() == {"task_id": task["task_id"]}
    assert rest_of_workspace[-1].event == "deleted"
    assert ("task-deleted", task["task_id"]) in [
        (e.event, e.json().get("id")) for e in rest_of_workspace
    ]
