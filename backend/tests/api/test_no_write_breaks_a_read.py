"""Property: no write, accepted or refused, leaves stored data that a read cannot render.

Generated from the app's own OpenAPI description (tests/api/openapi_cases.py): for every JSON
write operation (workspaces, functions, members, API keys, the task-creating routes) and for
each field of its body, one request per hostile value. After each, every read route sharing
the operation's tag (its GET and its listing) must answer 2xx or a documented 4xx, never 5xx;
so must the write itself. New write routes are picked up without changes here (their baseline
body is derived from the schema unless one is given below).
"""

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.main import create_app
from tests.api import openapi_cases as oc
from tests.conftest import with_overrides

BUCKET = "sfbank-blue-functions-code-bucket"
MANIFEST = "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata:\n  name: fuzz\n"
HELLO = b"from spin_sdk import http\n"


def _wasm(ids: dict[str, str]) -> str:
    """The artifact path of the workspace's own build (a direct wasm_path must be one)."""
    return f"s3://{BUCKET}/build-artifacts/{ids['build_task_id']}/fuzz.wasm"


MEMBER = "user:fuzz-member"

Baseline = Callable[[int, dict[str, str]], dict[str, Any]]
# Valid bodies the schema cannot describe (unique names, "exactly one of" rules).
BASELINES: dict[tuple[str, str], Baseline] = {
    ("POST", "/api/workspaces"): lambda n, ids: {"name": f"ws {n}", "description": "d"},
    ("PATCH", "/api/workspaces/{workspace_id}"): lambda n, ids: {"name": "ws", "description": "d"},
    ("POST", "/api/workspaces/{workspace_id}/functions"): lambda n, ids: {
        "name": f"fn-{n}",
        "description": "d",
        "variables": {"greeting": "hi"},
        "replicas": 2,
    },
    ("PATCH", "/api/functions/{function_id}"): lambda n, ids: {
        "description": "d",
        "variables": {"greeting": "hi"},
        "replicas": 2,
    },
    ("PUT", "/api/workspaces/{workspace_id}/members/{subject}"): lambda n, ids: {"role": "member"},
    ("POST", "/api/workspaces/{workspace_id}/api-keys"): lambda n, ids: {"name": f"ci {n}"},
    ("POST", "/api/v1/push"): lambda n, ids: {
        "workspace_id": ids["workspace_id"],
        "app_name": "fuzz",
        "wasm_path": _wasm(ids),
        "repository": f"faas-functions/{ids['workspace_id']}/fuzz",
        "tag": f"v{n}",
    },
    ("POST", "/api/v1/scaffold"): lambda n, ids: {
        "workspace_id": ids["workspace_id"],
        "app_name": "fuzz",
        "image_url": f"127.0.0.1:5001/faas-functions/{ids['workspace_id']}/fuzz@sha256:" + "0" * 64,
        "replicas": 2,
        "variables": {"greeting": "hi"},
        "resources": {"limits": {"cpu": "100m", "memory": "128Mi"}, "requests": {}},
        "autoscaling": {"min_replicas": 1, "max_replicas": 3},
    },
    ("POST", "/api/v1/deploy"): lambda n, ids: {
        "workspace_id": ids["workspace_id"],
        "app_name": "fuzz",
        "manifest": MANIFEST,
        "namespace": f"faas-{ids['workspace_id']}",
    },
}


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    # Limits out of the way: a 429 would stop the mutations from reaching the models.
    relaxed = with_overrides(
        settings, workspace_max_active_tasks=100_000, workspace_max_tasks_per_minute=100_000
    )
    app = create_app(relaxed)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            # An app error is answered 500, as a server would, not raised into the test.
            transport=httpx.ASGITransport(app=manager.app, raise_app_exceptions=False),
            base_url="http://testserver",
        ) as http,
    ):
        yield http


async def _fixtures(api: httpx.AsyncClient, name: str) -> dict[str, str]:
    """Something for every path parameter to name."""
    workspace = (await api.post("/api/workspaces", json={"name": name[:100]})).json()
    function = await api.post(f"/api/workspaces/{workspace['id']}/functions", json={"name": "fuzz"})
    build = await api.post(
        "/api/v1/build",
        data={"workspace_id": workspace["id"], "app_name": "fuzz"},
        files={"file": ("app.py", HELLO)},
    )
    assert build.status_code == 202, build.text
    ids = {
        "workspace_id": workspace["id"],
        "function_id": function.json()["id"],
        "build_task_id": build.json()["task_id"],
    }
    await api.put(f"/api/workspaces/{workspace['id']}/members/{MEMBER}", json={"role": "member"})
    task = await api.post("/api/v1/push", json=BASELINES[("POST", "/api/v1/push")](0, ids))
    assert task.status_code == 202, task.text
    return {**ids, "task_id": task.json()["task_id"], "subject": MEMBER, "key_id": "0" * 26}


def _encoded(body: Any) -> bytes:
    # ensure_ascii keeps an unpaired surrogate as the JSON escape \ud800, as a client would.
    return json.dumps(body, ensure_ascii=True).encode()


async def _check_reads(
    api: httpx.AsyncClient, reads: list[oc.Operation], ids: dict[str, str], after: str
) -> None:
    for read in reads:
        url = oc.fill_path(read.path, ids)
        answer = await api.get(url)
        assert answer.status_code < 500, f"GET {url} after {after}: {answer.text}"
        assert answer.status_code in read.documented, f"GET {url} after {after}: {answer.text}"


async def test_no_generated_write_leaves_a_resource_its_reads_cannot_render(
    api: httpx.AsyncClient,
) -> None:
    document = (await api.get("/openapi.json")).json()
    writes = oc.write_operations(document)
    reads = oc.read_operations(document)
    covered = {(w.method, w.path) for w in writes}
    assert set(BASELINES) <= covered, "a baseline names an operation the API no longer has"

    statuses: Counter[int] = Counter()
    every_ids: list[dict[str, str]] = []
    counter = 0
    for write in writes:
        # Fresh items per operation: small partitions keep the emulator's queries quick.
        ids = await _fixtures(api, write.path)
        every_ids.append(ids)
        own_reads = [r for r in reads if set(r.tags) & set(write.tags)]
        # Right after each accepted write: the resource's GET and listing; logs (which read
        # the same items, and S3) once the operation's cases are done.
        quick_reads = [r for r in own_reads if not r.path.endswith("/logs")]
        make = BASELINES.get((write.method, write.path))
        unread: str | None = None
        for case in oc.cases(document, write):
            counter += 1
            # A fresh baseline each time (unique names), with the case's one change.
            baseline = make(counter, ids) if make else oc.sample(document, write.body_schema)
            url = oc.fill_path(write.path, ids)
            answer = await api.request(
                write.method,
                url,
                content=_encoded(case.apply(baseline)),
                headers={"Content-Type": "application/json"},
            )
            what = f"{write.method} {write.path} {case.field} = {case.label}"
            statuses[answer.status_code] += 1
            assert answer.status_code < 500, f"{what}: {answer.status_code} {answer.text[:500]}"
            assert answer.status_code in write.documented, f"{what}: {answer.text[:500]}"
            if answer.status_code >= 400:
                assert answer.headers["content-type"] == "application/problem+json", what
                # Refused: read back once the operation's cases are done (cheaper, same net).
                unread = what
                continue
            created = answer.json() if answer.status_code == 202 else {}
            await _check_reads(api, quick_reads, {**ids, **created}, what)
            unread = what
        if unread:
            await _check_reads(api, own_reads, ids, f"the writes up to {unread}")

    # And at the end, every read of everything, once more.
    for ids in every_ids:
        await _check_reads(api, reads, ids, "all writes")
    print(f"\n{counter} generated writes over {len(writes)} operations: {dict(statuses)}")
