"""4. Scale: 1,000 concurrent tasks driven by one backend process, then by two on one table.

A first backend (pollers off) takes 100 real uploads through the API (the figures of creation
come from those); the rest of the 1,000 are copies of those task items with new ids, written
with BatchWriteItem — moto 5.2.5's TransactWriteItems deep-copies every table, so creating 1,000
through the API grows quadratically and takes minutes. Then a fresh backend with its pollers on
is started and finds all of them due at once, so every task is active at the same time and the
figures cover the driving alone: DynamoDB requests per task (counted by the moto server, by
operation), CPU seconds per task (/proc of the driving process, minus an idle backend's start-up
CPU), and its peak memory (VmHWM). Then the same with two backend processes started together on
one table: the fake service tells whether any job was created twice or polled by two drivers at
once (`jobs_created_per_key`, `max_concurrent_per_key`).

    python bench/scale.py [--quick] [--profile]
"""

import asyncio
import contextlib
import time
from typing import Any

import boto3
import httpx
from harness import (
    Backend,
    Moto,
    Section,
    backend_env,
    cli,
    create_workspace,
    log,
    running_backend,
    running_moto,
    settings_for,
    upload_build,
)

from testing.fake_infra import FakeInfraService

NAME = "scale"
TITLE = "4. Scale: 1,000 concurrent tasks, one and two backend processes"
TASKS = 1000
UPLOAD_CONCURRENCY = 1  # concurrent TransactWriteItems race inside moto (see create_tasks)
REAL_UPLOADS = 100


async def create_tasks(backend: Backend, count: int) -> tuple[str, float, int]:
    """`count` build tasks through the API; (workspace id, seconds, retried 503s).

    moto 5.2.5's TransactWriteItems deep-copies the table without a lock, so concurrent writes
    sometimes fail inside moto (500 "dictionary changed size during iteration"); the backend
    answers 503 STORAGE_UNAVAILABLE ("retry shortly") and the client retries, as a real one would.
    """
    retried = 0
    async with httpx.AsyncClient(base_url=backend.url, timeout=60) as http:
        workspace_id = await create_workspace(http, "scale")
        queue = iter(range(count))
        started = time.perf_counter()

        async def worker() -> None:
            nonlocal retried
            for number in queue:
                for attempt in range(10):
                    try:
                        await upload_build(http, workspace_id, app_name=f"app-{number % 50}")
                        break
                    except RuntimeError as exc:
                        if "answered 503" not in str(exc) or attempt == 9:
                            raise
                        retried += 1
                        await asyncio.sleep(0.2)

        await asyncio.gather(*(worker() for _ in range(UPLOAD_CONCURRENCY)))
        return workspace_id, time.perf_counter() - started, retried


class TableProbe:
    """Counts active and completed tasks straight from DynamoDB (its own requests counted)."""

    def __init__(self, moto: Moto) -> None:
        from app.storage import keys

        self._keys = keys
        self._settings = settings_for(moto.url)
        self._client = boto3.client("dynamodb", endpoint_url=moto.url, region_name="us-east-1")
        self.requests = 0

    def active(self) -> int:
        total = 0
        for shard in self._keys.all_due_shards():
            response = self._client.query(
                TableName=self._settings.dynamodb_table,
                IndexName=self._keys.DUE_INDEX,
                KeyConditionExpression="#shard = :shard",
                ExpressionAttributeNames={"#shard": self._keys.DUE_SHARD},
                ExpressionAttributeValues={":shard": {"S": shard}},
                Select="COUNT",
            )
            self.requests += 1
            total += response["Count"]
        return total

    def clone_tasks(self, workspace_id: str, total: int) -> int:
        """Copy the workspace's (pending) task items under new ids until there are `total`."""
        from app.ids import new_id

        keys = self._keys
        templates = self._client.query(
            TableName=self._settings.dynamodb_table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": keys.workspace_pk(workspace_id)},
                ":prefix": {"S": keys.TASK_PREFIX},
            },
        )["Items"]
        items = []
        for number in range(total - len(templates)):
            task_id = new_id()
            item = dict(templates[number % len(templates)])
            item |= {
                keys.SK: {"S": keys.task_key(workspace_id, task_id)[keys.SK]},
                keys.ENTITY_ID: {"S": keys.task_entity_id(task_id)},
                keys.DUE_SHARD: {"S": keys.due_shard(task_id)},
                "task_id": {"S": task_id},
            }
            items.append(item)
        for start in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            self._client.batch_write_item(RequestItems={self._settings.dynamodb_table: batch})
        # The copies count against the workspace's active tasks like real ones (where the
        # backend keeps that count), so finishing them takes the same writes.
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self._settings.dynamodb_table,
                Key={
                    name: {"S": value} for name, value in keys.workspace_key(workspace_id).items()
                },
                UpdateExpression="ADD active_tasks :n",
                ConditionExpression="attribute_exists(active_tasks)",
                ExpressionAttributeValues={":n": {"N": str(len(items))}},
            )
        return len(items)

    def statuses(self, workspace_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._settings.dynamodb_table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": self._keys.workspace_pk(workspace_id)},
                ":prefix": {"S": self._keys.TASK_PREFIX},
            },
            ProjectionExpression="#status",
            ExpressionAttributeNames={"#status": "status"},
        ):
            for item in page["Items"]:
                status = item["status"]["S"]
                counts[status] = counts.get(status, 0) + 1
        return counts


def drive(
    moto: Moto, env: dict[str, str], *, replicas: int, workspace_id: str, tasks: int,
    startup_cpu: float, limit: float,
) -> dict[str, Any]:  # fmt: skip
    """Start `replicas` backends with pollers on; wait until no task is active."""
    probe = TableProbe(moto)
    moto.reset_counts()
    moto_cpu = moto.stats.cpu_seconds()
    with contextlib.ExitStack() as stack:
        started = time.monotonic()
        backends = [
            stack.enter_context(running_backend(env, name=f"scale-driver-{n}"))
            for n in range(replicas)
        ]
        deadline = started + limit
        while (active := probe.active()) and time.monotonic() < deadline:
            time.sleep(0.5)
        seconds = time.monotonic() - started
        counts = moto.counts()
        moto_cpu = moto.stats.cpu_seconds() - moto_cpu
        cpu = [backend.stats.cpu_seconds() - startup_cpu for backend in backends]
        hwm = [backend.stats.memory_kib()["VmHWM"] / 1024 for backend in backends]
        rss = [backend.stats.memory_kib()["VmRSS"] / 1024 for backend in backends]
    statuses = probe.statuses(workspace_id)
    counts["dynamodb:Query"] = counts.get("dynamodb:Query", 0) - probe.requests
    dynamodb = {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("dynamodb:")}
    return {
        "seconds": seconds,
        "left_active": active,
        "statuses": statuses,
        "dynamodb": dynamodb,
        "dynamodb_per_task": sum(dynamodb.values()) / tasks,
        "cpu": cpu,
        "moto_cpu": moto_cpu,
        "hwm_mib": hwm,
        "rss_mib": rss,
    }


def run(*, quick: bool = False, profile: bool = False) -> Section:
    tasks = 200 if quick else TASKS
    section = Section(NAME, TITLE)
    results: dict[int, dict[str, Any]] = {}
    fake_counts: dict[str, Any] = {}
    with FakeInfraService(token="bench-infra-token") as infra, running_moto() as moto:
        env = backend_env(moto.url, infra.url, pollers_enabled=True)
        for replicas in (1, 2):
            moto.reset()  # moto's TransactWriteItems copies every table: keep them small
            infra.reset()
            infra.succeed_after(None, polls=1)
            moto.reset_counts()
            creator_env = env | {"POLLERS_ENABLED": "false"}
            with running_backend(creator_env, name="scale-creator") as creator:
                startup_cpu = creator.stats.cpu_seconds()
                startup_rss = creator.stats.memory_kib()["VmRSS"] / 1024
                workspace_id, create_seconds, retried = asyncio.run(
                    create_tasks(creator, REAL_UPLOADS)
                )
                create_counts = moto.counts()
            cloned = TableProbe(moto).clone_tasks(workspace_id, tasks)
            log(f"scale: {REAL_UPLOADS} uploads in {create_seconds:.1f} s, {cloned} copies")
            result = drive(
                moto, env, replicas=replicas, workspace_id=workspace_id, tasks=tasks,
                startup_cpu=startup_cpu, limit=300 if quick else 900,
            )  # fmt: skip
            result |= {
                "create_seconds": create_seconds,
                "create_dynamodb_per_task": sum(
                    v for k, v in create_counts.items() if k.startswith("dynamodb:")
                )
                / REAL_UPLOADS,
                "startup_rss": startup_rss,
                "retried": retried,
            }
            results[replicas] = result
            log(f"scale: {replicas} replica(s): {result}")
            if replicas == 2:
                created = infra.jobs_created_per_key
                fake_counts = {
                    "keys": len(created),
                    "max_created": max(created.values(), default=0),
                    "max_concurrent": max(infra.max_concurrent_per_key.values(), default=0),
                    "resubmitted": sum(1 for n in infra.posts_per_key.values() if n > 1),
                }

    for replicas, result in results.items():
        label = "one process" if replicas == 1 else "two processes"
        completed = result["statuses"].get("completed", 0)
        total = sum(result["statuses"].values())
        section.add(
            f"{label}: tasks completed",
            f"{completed} / {total} in {result['seconds']:.1f} s "
            f"({completed / result['seconds']:.0f} tasks/s)",
            "all",
            completed == total >= tasks,
        )
        ops = ", ".join(f"{op} {n / tasks:.2f}" for op, n in sorted(result["dynamodb"].items()))
        section.add(
            f"{label}: DynamoDB requests per task while driving",
            f"{result['dynamodb_per_task']:.1f} ({ops})",
        )
        section.add(
            f"{label}: CPU seconds per task (driving)",
            " + ".join(f"{cpu / tasks * 1000:.1f} ms" for cpu in result["cpu"])
            + f" (moto: {result['moto_cpu'] / tasks * 1000:.1f} ms; "
            f"{result['moto_cpu'] / result['seconds']:.0%} of a core while driving)",
        )
        section.add(
            f"{label}: peak memory (VmHWM) of the driving process(es)",
            " / ".join(f"{hwm:.0f} MiB" for hwm in result["hwm_mib"])
            + f" (an idle backend: {result['startup_rss']:.0f} MiB)",
        )
    one = results[1]
    section.add(
        f"creating {REAL_UPLOADS} of them: POST /api/v1/build, one at a time",
        f"{REAL_UPLOADS / one['create_seconds']:.0f} uploads/s, "
        f"{one['create_dynamodb_per_task']:.1f} DynamoDB requests per upload; "
        f"{one['retried'] + results.get(2, one)['retried']} answers 503 (moto race), retried",
    )
    if fake_counts:
        twice = fake_counts["max_created"] > 1 or fake_counts["max_concurrent"] > 1
        section.add(
            "two processes: any job created twice or polled by two drivers at once",
            f"max jobs per key {fake_counts['max_created']}, max concurrent requests per key "
            f"{fake_counts['max_concurrent']} over {fake_counts['keys']} keys; "
            f"{fake_counts['resubmitted']} keys posted more than once",
            "none",
            not twice,
        )
    section.note(
        "Fake service in the benchmark process; each job succeeds on its first status read, so "
        "a task is two steps (submit, then one poll). Backends: uvicorn, defaults "
        "(POLLER_CONCURRENCY 32, POLL_FIRST_DELAY 0.25 s, POLLER_TICK 1 s). The time includes "
        "the driving process's start-up (~1-2 s). DynamoDB counts include the pollers' "
        "due-index Queries (8 shards per tick per process)."
    )
    section.note(
        "moto is the bottleneck here: its CPU per task (above) is several times the backend's, "
        "and it runs on one core. py-spy on moto while driving: ~63 % of its busy time is in "
        "TransactWriteItems (the last step of each task also lowers the workspace's active-task "
        "count), nearly all of it copy.deepcopy of every table (moto/dynamodb/models/__init__.py"
        " transact_write_items), so the cost per task grows with the table's size."
    )
    return section


if __name__ == "__main__":
    cli(run, NAME)
