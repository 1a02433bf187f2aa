"""The fake the backend's tests use (testing/fake_infra.py) and the real service accept and refuse
the same requests, and answer in the same shape: both speak contract/ (docs/contract.md)."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from conftest import BUCKET, TOKEN
from contract.build_log import BuildLogChunk
from contract.jobs import VIEWS, StageName
from testing.fake_infra import FakeInfraService

S3 = f"s3://{BUCKET}"
IMAGE = "registry.test:5000/faas/hello@sha256:" + "ab" * 32
MANIFEST = (
    "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata:\n  name: hello\n"
    f'spec:\n  image: "{IMAGE}"\n  executor: containerd-shim-spin\n  replicas: 1\n'
)
VALID: dict[StageName, dict[str, Any]] = {
    "build": {
        "job_key": "t:build", "task_id": "t", "workspace_id": "ws", "app_name": "hello",
        "source": f"{S3}/build-sources/ws/t/app.py",
        "artifact": f"{S3}/build-artifacts/t/hello.wasm",
        "log_path": f"{S3}/build-logs/t/build.log",
    },
    "push": {
        "job_key": "t:push", "wasm_path": f"{S3}/build-artifacts/t/hello.wasm",
        "app_name": "hello", "repository": "faas/hello", "tag": "v1",
    },
    "scaffold": {
        "job_key": "t:scaffold", "image_url": IMAGE, "app_name": "hello",
    },
    "deploy": {"job_key": "t:deploy", "manifest": MANIFEST},
}  # fmt: skip
PATHS = {"build": "builds", "push": "pushes", "scaffold": "scaffolds", "deploy": "deployments"}

CASES: list[tuple[StageName, str, dict[str, Any]]] = (
    [(stage, "as given", body) for stage, body in VALID.items()]
    + [
        (stage, f"without {name}", {k: v for k, v in body.items() if k != name})
        for stage, body in VALID.items()
        for name in body
    ]
    + [
        ("build", "a name that is no DNS label", {**VALID["build"], "app_name": "Hello_World"}),
        ("build", "a source that is no s3 path", {**VALID["build"], "source": "/etc/passwd"}),
        ("push", "a tag with a space", {**VALID["push"], "tag": "v 1"}),
        ("push", "an upper-case variable", {**VALID["push"], "variables": ["GREETING"]}),
        ("scaffold", "no replicas", {**VALID["scaffold"], "replicas": 0}),
        ("scaffold", "autoscaling without limits", {**VALID["scaffold"], "autoscaling": {}}),
        ("scaffold", "a variable value", {**VALID["scaffold"], "variables": {"greeting": "hi"}}),
        ("deploy", "a namespace", {**VALID["deploy"], "namespace": "faas"}),
        ("deploy", "a namespace that is no DNS label", {**VALID["deploy"], "namespace": "Faas!"}),
        ("deploy", "an empty manifest", {**VALID["deploy"], "manifest": ""}),
    ]
)


@pytest.fixture
async def fake() -> AsyncIterator[httpx.AsyncClient]:
    with FakeInfraService(token=TOKEN) as service:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=5) as http:
            yield http


@pytest.mark.parametrize(("stage", "case", "body"), CASES, ids=[f"{s}: {c}" for s, c, _ in CASES])
async def test_the_fake_and_the_service_agree_on_every_request(
    client: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    stage: StageName,
    case: str,
    body: dict[str, Any],
) -> None:
    real = await client.post(f"/v1/{PATHS[stage]}", json=body)
    faked = await fake.post(f"/v1/{PATHS[stage]}", json=body)
    assert (real.status_code, faked.status_code) in {(202, 202), (422, 422)}, (
        real.text,
        faked.text,
    )
    for answer in (real, faked):
        if answer.status_code == 202:
            VIEWS[stage].model_validate(answer.json())  # the same job view
        else:
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("stage", list(VALID))
async def test_both_refuse_a_known_job_key_with_another_request(
    client: httpx.AsyncClient, fake: httpx.AsyncClient, stage: StageName
) -> None:
    changed = {**VALID[stage], "task_id": "another-task"}
    for http in (client, fake):
        assert (await http.post(f"/v1/{PATHS[stage]}", json=VALID[stage])).status_code == 202
        again = await http.post(f"/v1/{PATHS[stage]}", json=VALID[stage])
        assert again.status_code == 202
        refused = await http.post(f"/v1/{PATHS[stage]}", json=changed)
        assert refused.status_code == 409 and refused.json()["code"] == "JOB_KEY_CONFLICT"


@pytest.mark.parametrize(
    ("query", "status"),
    [({}, 200), ({"offset": 0, "limit": 10}, 200), ({"offset": -1}, 422), ({"limit": 0}, 422)],
)
async def test_both_answer_the_build_log_call_alike(
    client: httpx.AsyncClient, fake: httpx.AsyncClient, query: dict[str, int], status: int
) -> None:
    for http in (client, fake):
        job = (await http.post("/v1/builds", json=VALID["build"])).json()
        answer = await http.get(f"/v1/builds/{job['job_id']}/log", params=query)
        assert answer.status_code == status, answer.text
        if status == 200:
            chunk = BuildLogChunk.model_validate(answer.json())
            assert chunk.job_id == job["job_id"] and chunk.offset == query.get("offset", 0)
            assert chunk.next_offset == chunk.offset + len(chunk.text.encode())
        else:
            assert answer.headers["content-type"] == "application/problem+json"
        unknown = await http.get("/v1/builds/build-unknown/log")
        assert unknown.status_code == 404 and unknown.json()["code"] == "JOB_NOT_FOUND"


# --- the second-wave calls (apps, namespaces, runtime logs, test invocations) -----------------

WASM = f"{S3}/build-artifacts/none/hello.wasm"
RUNTIME_CASES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("an app nobody deployed", "GET", "/v1/deployments/default/nobody", None),
    ("undeploy of nothing", "DELETE", "/v1/deployments/default/nobody", None),
    ("a name that is no DNS label", "GET", "/v1/deployments/default/No_Body", None),
    ("logs of nothing", "GET", "/v1/deployments/default/nobody/logs", None),
    ("logs since no time", "GET", "/v1/deployments/default/nobody/logs?since=never", None),
    ("logs with limit 0", "GET", "/v1/deployments/default/nobody/logs?limit=0", None),
    ("logs with tail 1001", "GET", "/v1/deployments/default/nobody/logs?tail=1001", None),
    ("a namespace nobody made", "DELETE", "/v1/namespaces/faas-nobody", None),
    ("a namespace that is no DNS label", "DELETE", "/v1/namespaces/Faas_Nobody", None),
    ("a test of a missing component", "POST", "/v1/test-invocations",
     {"app_name": "hello", "wasm_path": WASM}),
    ("a test without wasm_path", "POST", "/v1/test-invocations", {"app_name": "hello"}),
    ("a test with a bad method", "POST", "/v1/test-invocations",
     {"app_name": "hello", "wasm_path": WASM, "request": {"method": "get"}}),
    ("a test with an unknown field", "POST", "/v1/test-invocations",
     {"app_name": "hello", "wasm_path": WASM, "extra": 1}),
    ("an image repository that is no name", "DELETE", "/v1/images/Bad_Repo/v1", None),
    ("an image reference that is no digest", "DELETE", "/v1/images/faas/hello/sha256:xyz",
     None),
    ("an image call that is no delete", "GET", "/v1/images/faas/hello/v1", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "method", "path", "body"), RUNTIME_CASES, ids=[c for c, *_ in RUNTIME_CASES]
)
async def test_the_fake_and_the_service_agree_on_the_runtime_calls(
    client: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    case: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    real = await client.request(method, path, json=body)
    faked = await fake.request(method, path, json=body)
    assert real.status_code == faked.status_code, (case, real.text, faked.text)
    if real.status_code >= 400:
        assert real.json()["code"] == faked.json()["code"], (real.text, faked.text)
    else:
        assert real.json() == faked.json()
