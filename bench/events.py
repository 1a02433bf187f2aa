"""9. Live events: a change written → its event received by subscribers, and what it costs.

DynamoDB is DynamoDB Local (as `make run`), its requests counted by the launcher (/_counts).
The backend is a real uvicorn process with its pollers off, so that the benchmark is the only
writer: it appends a pipeline event to a task item and raises its version, as a poller's step
does (one UpdateItem), and times from the moment it sends the write to the moment each
subscriber of `GET /api/v1/tasks/{id}/events` has the event. Then with 1, 10 and 200
subscribers it counts DynamoDB requests per change. For comparison, a client polling
`GET /api/v1/tasks/{id}` every second is timed on the same kind of change (its `updated_at`).

    python bench/events.py [--quick]
"""

import asyncio
import json
import random
import time
from datetime import UTC, datetime
from typing import Any

import aioboto3
import httpx
from harness import (
    TOKEN,
    Section,
    backend_env,
    cli,
    create_workspace,
    log,
    percentile,
    running_aws,
    running_backend,
    upload_build,
)

from testing.fake_infra import FakeInfraService

NAME = "events"
TITLE = "9. Live events (SSE): change written → event received, DynamoDB reads per change"
TABLE = "sfbank-blue-FaaSData"
TARGET_P50 = 0.100
TABLE_READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Writer:
    """Appends pipeline events to one task item, as a step writes them."""

    def __init__(self, dynamodb: Any, task: dict[str, Any]) -> None:
        self._dynamodb = dynamodb
        self._key = {
            "PK": {"S": f"WS#{task['workspace_id']}"},
            "SK": {"S": f"BUILD#{task['task_id']}"},
        }
        self.sent: dict[str, float] = {}

    async def change(self, label: str) -> None:
        now = _now_iso()
        event = {"M": {"time": {"S": now}, "level": {"S": "info"}, "message": {"S": label}}}
        self.sent[label] = time.perf_counter()
        await self._dynamodb.update_item(
            TableName=TABLE,
            Key=self._key,
            UpdateExpression="SET #v = #v + :one, updated_at = :now, "
            "events = list_append(events, :event)",
            ExpressionAttributeNames={"#v": "version"},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":now": {"S": now},
                ":event": {"L": [event]},
            },
        )


async def _subscriber(
    client: httpx.AsyncClient, path: str, received: dict[str, float], ready: asyncio.Event
) -> None:
    async with client.stream("GET", path) as response:
        response.raise_for_status()
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                if event == "task":
                    ready.set()
                elif event == "log":
                    message = json.loads(line[6:])["message"]
                    if message.startswith("bench "):
                        received.setdefault(message, time.perf_counter())


async def _phase(
    url: str,
    aws: Any,
    dynamodb: Any,
    task: dict[str, Any],
    subscribers: int,
    changes: int,
    tag: str = "",
) -> dict[str, Any]:
    """`changes` writes 50 ms apart with `subscribers` watching; latencies and request counts."""
    path = f"/api/v1/tasks/{task['task_id']}/events"
    limits = httpx.Limits(max_connections=subscribers + 5, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        received = [dict[str, float]() for _ in range(subscribers)]
        readies = [asyncio.Event() for _ in range(subscribers)]
        watchers = [
            asyncio.create_task(_subscriber(client, path, received[n], readies[n]))
            for n in range(subscribers)
        ]
        await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 120)
        await asyncio.sleep(0.5)
        writer = Writer(dynamodb, task)
        prefix = f"bench {tag}{subscribers}-"  # new labels: a new subscriber replays old ones
        aws.reset_counts()
        started = time.perf_counter()
        for n in range(changes):
            await writer.change(f"{prefix}{n}")
            await asyncio.sleep(0.05)
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and any(  # noqa: ASYNC110 (subscribers fill it)
            len([k for k in got if k.startswith(prefix)]) < changes for got in received
        ):
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - started
        counts = aws.counts()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
    latencies = [
        got[label] - sent for got in received for label, sent in writer.sent.items() if label in got
    ]
    missing = subscribers * changes - len(latencies)
    dynamo = {
        k.removeprefix("dynamodb:"): v for k, v in counts.items() if k.startswith("dynamodb:")
    }
    return {
        "latencies": latencies,
        "missing": missing,
        "seconds": seconds,
        "table_reads": sum(dynamo.get(op, 0) for op in TABLE_READS),
        "stream_reads": dynamo.get("GetRecords", 0),
        "writes": dynamo.get("UpdateItem", 0),
        "dynamo": dynamo,
    }


async def _polling_phase(
    url: str, dynamodb: Any, task: dict[str, Any], changes: int
) -> list[float]:
    """A client polling every second: how long after each write it shows the change."""
    writer = Writer(dynamodb, task)
    seen: list[float] = []
    stop = asyncio.Event()

    async def poll() -> None:
        last = None
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            while not stop.is_set():
                body = (await client.get(f"/api/v1/tasks/{task['task_id']}")).json()
                if last is not None and body["updated_at"] != last:
                    seen.append(time.perf_counter())
                last = body["updated_at"]
                await asyncio.sleep(1.0)

    poller = asyncio.create_task(poll())
    await asyncio.sleep(1.2)
    latencies = []
    for n in range(changes):
        await asyncio.sleep(random.uniform(1.1, 2.0))  # at most one change per poll
        count = len(seen)
        await writer.change(f"poll {n}")
        while len(seen) == count:  # noqa: ASYNC110 (the poller appends to `seen`)
            await asyncio.sleep(0.01)
        latencies.append(seen[-1] - writer.sent[f"poll {n}"])
    stop.set()
    await poller
    return latencies


async def _driven_phase(url: str, infra: FakeInfraService, tasks: int) -> list[float]:
    """The backend's own pollers drive build tasks; for every `task` event after the first of
    a connection: received - the step's `updated_at` (the step's time, written right after)."""
    latencies: list[float] = []
    infra.succeed_after("build", polls=2)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        workspace = await create_workspace(client, "driven")
        for n in range(tasks):
            task = await upload_build(client, workspace, app_name=f"driven-{n}")
            async with client.stream("GET", f"/api/v1/tasks/{task['task_id']}/events") as response:
                event, first = "", True
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "task":
                        received = datetime.now(UTC)
                        document = json.loads(line[6:])
                        if not first:
                            at = datetime.fromisoformat(
                                document["updated_at"].replace("Z", "+00:00")
                            )
                            latencies.append((received - at).total_seconds())
                        first = False
    return latencies


async def _run(quick: bool) -> Section:
    section = Section(NAME, TITLE)
    changes = 40 if quick else 100
    counts = (1, 10, 200)
    with running_aws() as aws:
        env = backend_env(aws, POLLERS_ENABLED="false", SWEEPER_ENABLED="false")
        with running_backend(env) as backend:
            async with httpx.AsyncClient(base_url=backend.url, timeout=30) as api:
                workspace = await create_workspace(api)
                task = await upload_build(api, workspace)
            session = aioboto3.Session()
            async with session.client(
                "dynamodb", endpoint_url=aws.dynamodb_url, region_name="us-east-1"
            ) as dynamodb:
                results = {}
                for subscribers in counts:
                    log(f"events: {subscribers} subscriber(s), {changes} changes")
                    results[subscribers] = await _phase(
                        backend.url, aws, dynamodb, task, subscribers, changes
                    )
                log("events: a 1 s poller for comparison")
                polled = await _polling_phase(backend.url, dynamodb, task, 8 if quick else 20)
        poll_env = backend_env(
            aws, POLLERS_ENABLED="false", SWEEPER_ENABLED="false",
            EVENTS_SOURCE="poll", EVENTS_POLL_SECONDS="0.25",
        )  # fmt: skip
        with running_backend(poll_env, name="poll-source") as backend:
            session = aioboto3.Session()
            async with session.client(
                "dynamodb", endpoint_url=aws.dynamodb_url, region_name="us-east-1"
            ) as dynamodb:
                polled_source = {}
                for subscribers in (1, 200):
                    log(f"events (poll source): {subscribers} subscriber(s)")
                    polled_source[subscribers] = await _phase(
                        backend.url, aws, dynamodb, task, subscribers, changes, tag="poll-"
                    )
        with FakeInfraService(token=TOKEN) as infra:
            env = backend_env(aws, infra.url, SWEEPER_ENABLED="false")
            with running_backend(env, name="driven") as backend:
                log("events: the backend's own pollers drive build tasks")
                driven = await _driven_phase(backend.url, infra, 8 if quick else 25)

    one = results[1]["latencies"]
    section.add(
        "change written → event received, 1 subscriber: p50 / p99",
        f"{percentile(one, 50) * 1000:.0f} ms / {percentile(one, 99) * 1000:.0f} ms",
        f"p50 ≤ {TARGET_P50 * 1000:.0f} ms",
        percentile(one, 50) <= TARGET_P50,
    )
    for subscribers in counts[1:]:
        lat = results[subscribers]["latencies"]
        section.add(
            f"change written → event received, {subscribers} subscribers: p50 / p99 (all)",
            f"{percentile(lat, 50) * 1000:.0f} ms / {percentile(lat, 99) * 1000:.0f} ms",
        )
    section.add(
        "a step of this replica's own poller → its `task` event: p50 / p99",
        f"{percentile(driven, 50) * 1000:.0f} ms / {percentile(driven, 99) * 1000:.0f} ms "
        f"({len(driven)} changes)",
    )
    section.add(
        "same change seen by a client polling GET /api/v1/tasks/{id} every 1 s: p50 / p99",
        f"{percentile(polled, 50) * 1000:.0f} ms / {percentile(polled, 99) * 1000:.0f} ms",
    )
    for subscribers in counts:
        run = results[subscribers]
        section.add(
            f"DynamoDB table reads per change, {subscribers} subscriber(s)",
            f"{run['table_reads'] / changes:.2f} ({run['table_reads']:.0f} for {changes} changes)",
            "same for 1, 10, 200",
            run["table_reads"] == results[1]["table_reads"],
        )
        section.add(
            f"stream reads (GetRecords) per change / per second, {subscribers} subscriber(s)",
            f"{run['stream_reads'] / changes:.2f} / {run['stream_reads'] / run['seconds']:.1f}",
        )
        if run["missing"]:
            section.add(f"events not received, {subscribers} subscribers", str(run["missing"]))
    for subscribers, run in polled_source.items():
        lat = run["latencies"]
        section.add(
            f"EVENTS_SOURCE=poll (every 0.25 s), {subscribers} subscriber(s): p50 / p99; "
            "table reads per second",
            f"{percentile(lat, 50) * 1000:.0f} ms / {percentile(lat, 99) * 1000:.0f} ms; "
            f"{run['table_reads'] / run['seconds']:.1f} (BatchGetItem)",
        )
    section.note(
        "One reader of the table's DynamoDB stream per backend replica (GetRecords every "
        "EVENTS_POLL_SECONDS = 0.1 s per shard while anyone watches — at once again only after a "
        "full read; the stream records carry the items, "
        "so nothing is read from the table per change); the subscribers share it. Latency is "
        "from the writer sending its UpdateItem to the subscriber parsing the frame; with 200 "
        "subscribers the load generator's own parsing of 200 streams (one Python process, "
        "httpx) is part of it."
    )
    section.note(
        "The changes are written by the benchmark (the backend's pollers off) exactly as a step "
        "writes them: one UpdateItem raising `version` and appending to `events`, 50 ms apart. "
        "A subscriber connects with one GetItem-or-Query for its access check (not counted: "
        "counting starts once every subscriber has its first frame)."
    )
    section.note(
        "A step stored by the replica that serves the stream is shown at once (the driver tells "
        "the hub; the stream's copy of the same version is then ignored); the `own poller` row "
        "measures that path from the step's `updated_at` (ms precision) with the fake "
        "infrastructure service. The other rows measure the change stream, the path of a step "
        "written by another replica."
    )
    return section


def run(quick: bool = False, profile: bool = False) -> Section:
    return asyncio.run(_run(quick))


if __name__ == "__main__":
    cli(run, NAME)
