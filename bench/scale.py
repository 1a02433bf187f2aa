"""4. Scale: 1,000 and 10,000 concurrent tasks driven by two backend processes on one table.

DynamoDB is DynamoDB Local (as `make run`, data on disk), S3 is moto. For each size, a fresh
table: a first backend (pollers off) takes 100 real uploads through the API, 8 at a time with
no retries (the figures of creation come from those); the rest are copies of those task items
with new ids, written with BatchWriteItem, so the table holds every task at once. Then two
fresh backends with their pollers on start together and find all of them due, so the figures
cover the driving alone: DynamoDB requests per task (counted by DynamoDB Local itself, by
operation), CPU seconds per task (/proc of each driving process, minus an idle backend's
start-up CPU; and DynamoDB Local's), peak memory (VmHWM). The fake service tells whether any
job was created twice or polled by two drivers at once (`jobs_created_per_key`,
`max_concurrent_per_key`). The two sizes side by side show whether the cost per task stays
flat as the table grows.

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
    LocalAws,
    Section,
    backend_env,
    cli,
    create_workspace,
    log,
    running_aws,
    running_backend,
    settings_for,
    upload_build,
)

from testing.fake_infra import FakeInfraService

NAME = "scale"
TITLE = "4. Scale: 1,000 and 10,000 concurrent tasks, two backend processes"
SIZES = (1000, 10_000)
TARGET_RATE = 20  # tasks/s with two processes
UPLOAD_CONCURRENCY = 8
REAL_UPLOADS = 100


async def create_tasks(backend: Backend, count: int) -> tuple[str, float]:
    """`count` build tasks through the API, several at once; (workspace id, seconds)."""
    async with httpx.AsyncClient(base_url=backend.url, timeout=60) as http:
        workspace_id = await create_workspace(http, "scale")
        queue = iter(range(count))
        started = time.perf_counter()

        async def worker() -> None:
            for number in queue:
                await upload_build(http, workspace_id, app_name=f"app-{number % 50}")

        await asyncio.gather(*(worker() for _ in range(UPLOAD_CONCURRENCY)))
        return workspace_id, time.perf_counter() - started


class TableProbe:
    """Counts active and completed tasks straight from DynamoDB (its own requests counted)."""

    def __init__(self, aws: LocalAws) -> None:
        from app.storage import keys

        self._keys = keys
        self._settings = settings_for(aws)
        self._client = boto3.client(
            "dynamodb", endpoint_url=aws.dynamodb_url, region_name="us-east-1"
        )
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
    aws: LocalAws, env: dict[str, str], *, replicas: int, workspace_id: str, tasks: int,
    startup_cpu: float, limit: float,
) -> dict[str, Any]:  # fmt: skip
    """Start `replicas` backends with pollers on; wait until no task is active."""
    probe = TableProbe(aws)
    aws.reset_counts()
    dynamodb_cpu = aws.dynamodb_stats.cpu_seconds()
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
        counts = aws.counts()
        dynamodb_cpu = aws.dynamodb_stats.cpu_seconds() - dynamodb_cpu
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
        "dynamodb_cpu": dynamodb_cpu,
        "hwm_mib": hwm,
        "rss_mib": rss,
    }


def run(*, quick: bool = False, profile: bool = False) -> Section:
    sizes = (200, 1000) if quick else SIZES
    replicas = 2
    section = Section(NAME, TITLE)
    results: dict[int, dict[str, Any]] = {}
    with FakeInfraService(token="bench-infra-token") as infra, running_aws() as aws:
        env = backend_env(aws, infra.url, pollers_enabled=True)
        for tasks in sizes:
            aws.reset()  # a fresh table for each size
            infra.reset()
            infra.succeed_after(None, polls=1)
            creator_env = env | {"POLLERS_ENABLED": "false"}
            with running_backend(creator_env, name="scale-creator") as creator:
                startup_cpu = creator.stats.cpu_seconds()
                startup_rss = creator.stats.memory_kib()["VmRSS"] / 1024
                workspace_id, create_seconds = asyncio.run(create_tasks(creator, REAL_UPLOADS))
                create_counts = aws.counts()
            cloned = TableProbe(aws).clone_tasks(workspace_id, tasks)
            log(f"scale: {REAL_UPLOADS} uploads in {create_seconds:.1f} s, {cloned} copies")
            result = drive(
                aws, env, replicas=replicas, workspace_id=workspace_id, tasks=tasks,
                startup_cpu=startup_cpu, limit=600 if quick else 2400,
            )  # fmt: skip
            created = infra.jobs_created_per_key
            result |= {
                "create_seconds": create_seconds,
                "create_dynamodb_per_task": sum(
                    v for k, v in create_counts.items() if k.startswith("dynamodb:")
                )
                / REAL_UPLOADS,
                "startup_rss": startup_rss,
                "keys": len(created),
                "max_created": max(created.values(), default=0),
                "max_concurrent": max(infra.max_concurrent_per_key.values(), default=0),
                "resubmitted": sum(1 for n in infra.posts_per_key.values() if n > 1),
            }
            results[tasks] = result
            log(f"scale: {tasks} tasks, {replicas} replicas: {result}")

    for tasks, result in results.items():
        label = f"{tasks:,} tasks"
        completed = result["statuses"].get("completed", 0)
        total = sum(result["statuses"].values())
        rate = completed / result["seconds"]
        section.add(
            f"{label}: completed, two processes",
            f"{completed} / {total} in {result['seconds']:.1f} s ({rate:.1f} tasks/s)",
            f"all; ≥ {TARGET_RATE} tasks/s",
            completed == total >= tasks and rate >= TARGET_RATE,
        )
        twice = result["max_created"] > 1 or result["max_concurrent"] > 1
        section.add(
            f"{label}: any job created twice or polled by two drivers at once",
            f"max jobs per key {result['max_created']}, max concurrent requests per key "
            f"{result['max_concurrent']} over {result['keys']} keys; "
            f"{result['resubmitted']} keys posted more than once",
            "none",
            not twice,
        )
        ops = ", ".join(f"{op} {n / tasks:.2f}" for op, n in sorted(result["dynamodb"].items()))
        section.add(
            f"{label}: DynamoDB requests per task while driving",
            f"{result['dynamodb_per_task']:.1f} ({ops})",
        )
        section.add(
            f"{label}: CPU per task (driving)",
            "backends "
            + " + ".join(f"{cpu / tasks * 1000:.1f} ms" for cpu in result["cpu"])
            + f"; DynamoDB Local {result['dynamodb_cpu'] / tasks * 1000:.1f} ms "
            f"({result['dynamodb_cpu'] / result['seconds']:.0%} of a core while driving)",
        )
        section.add(
            f"{label}: peak memory (VmHWM) of the driving processes",
            " / ".join(f"{hwm:.0f} MiB" for hwm in result["hwm_mib"])
            + f" (an idle backend: {result['startup_rss']:.0f} MiB)",
        )
        section.add(
            f"{label}: creating {REAL_UPLOADS} through POST /api/v1/build, "
            f"{UPLOAD_CONCURRENCY} at a time",
            f"{REAL_UPLOADS / result['create_seconds']:.0f} uploads/s, "
            f"{result['create_dynamodb_per_task']:.1f} DynamoDB requests per upload, no retries",
        )
    if len(results) == 2:
        small, large = (results[size] for size in sorted(results))
        n_small, n_large = sorted(results)
        section.add(
            f"cost per task at {n_large:,} ÷ at {n_small:,} tasks",
            f"DynamoDB requests {large['dynamodb_per_task'] / small['dynamodb_per_task']:.2f}x, "
            f"backend CPU {sum(large['cpu']) / n_large / (sum(small['cpu']) / n_small):.2f}x, "
            f"DynamoDB Local CPU "
            f"{large['dynamodb_cpu'] / n_large / (small['dynamodb_cpu'] / n_small):.2f}x",
            "flat (≈ 1x)",
        )
    section.note(
        "Emulation: DynamoDB Local 3.3.0 (AWS's emulator; its SQLite file on tmpfs, see "
        "harness.running_aws); S3 on "
        "moto. Until this wave these figures came from moto's DynamoDB (1,000 tasks, two "
        "processes: 3 tasks/s, ~370 ms of moto CPU per task, growing with the table, and the "
        "uploads had to be serialised and retried around moto's races): no request is "
        "serialised or retried here."
    )
    section.note(
        "Fake service in the benchmark process; each job succeeds on its first status read, so "
        "a task is two steps (submit, then one poll). Backends: uvicorn, defaults "
        "(POLLER_CONCURRENCY 32, POLL_FIRST_DELAY 0.25 s, POLLER_TICK 1 s). The time includes "
        "the driving processes' start-up (~1-2 s). DynamoDB counts include the pollers' "
        "due-index Queries (8 shards per tick per process)."
    )
    return section


if __name__ == "__main__":
    cli(run, NAME)
