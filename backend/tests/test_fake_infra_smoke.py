"""Smoke test of the fake infrastructure services (testing/fake_infra.py) over real HTTP."""

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from contract.jobs import BuildResult, JobView
from testing.fake_infra import FakeInfraService

TOKEN = "smoke-token"


@pytest.fixture
def infra() -> Iterator[FakeInfraService]:
    with FakeInfraService(token=TOKEN, registry="registry.test:5000") as service:
        yield service


@pytest.fixture
def http(infra: FakeInfraService) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=infra.url, headers=headers, timeout=2.0) as client:
        yield client


def build_request(job_key: str = "task-1:build", app_name: str = "hello") -> dict[str, Any]:
    return {
        "job_key": job_key,
        "workspace_id": "ws-1",
        "app_name": app_name,
        "source": "s3://bucket/build-sources/ws-1/task-1/app.py",
        "artifact": f"s3://bucket/build-artifacts/task-1/{app_name}.wasm",
    }


def test_requests_without_the_bearer_token_are_refused(infra: FakeInfraService) -> None:
    assert httpx.post(f"{infra.url}/v1/builds", json=build_request()).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.get(f"{infra.url}/v1/builds/x", headers=wrong).status_code == 401


def test_a_build_is_queued_then_succeeds_on_the_first_poll(
    infra: FakeInfraService, http: httpx.Client
) -> None:
    submitted = http.post("/v1/builds", json=build_request())
    assert submitted.status_code == 202
    assert submitted.json()["status"] == "queued"

    job = http.get(f"/v1/builds/{submitted.json()['job_id']}").json()

    assert set(job) == {
        "job_id", "job_key", "status", "result", "error", "log_path", "created_at",
        "started_at", "finished_at",
    }  # fmt: skip
    assert JobView[BuildResult].model_validate(job).result is not None
    assert job["status"] == "succeeded" and job["error"] is None
    assert job["result"]["wasm_path"] == build_request()["artifact"]
    assert len(job["result"]["sha256"]) == 64 and job["result"]["size"] > 0
    assert job["started_at"] and job["finished_at"]
    assert infra.requests_log[0][:2] == ("POST", "/v1/builds")


def test_posting_the_same_job_key_returns_the_same_job(
    infra: FakeInfraService, http: httpx.Client
) -> None:
    first = http.post("/v1/builds", json=build_request()).json()
    again = http.post("/v1/builds", json=build_request())

    # As the real service: 202 and the job already known for the key.
    assert again.status_code == 202 and again.json()["job_id"] == first["job_id"]
    assert infra.posts_per_key["task-1:build"] == 2
    assert infra.jobs_created_per_key["task-1:build"] == 1


def test_a_job_runs_until_its_configured_poll(infra: FakeInfraService, http: httpx.Client):
    infra.succeed_after("build", polls=3)
    job_id = http.post("/v1/builds", json=build_request()).json()["job_id"]

    statuses = [http.get(f"/v1/builds/{job_id}").json()["status"] for _ in range(4)]

    assert statuses == ["running", "running", "succeeded", "succeeded"]
    assert infra.gets_per_job[job_id] == 4


def test_an_instant_job_is_finished_in_the_post_answer(infra: FakeInfraService, http: httpx.Client):
    infra.instant("push")
    body = {"job_key": "t:push", "wasm_path": "s3://b/a.wasm", "app_name": "hello"}

    job = http.post("/v1/pushes", json=body | {"repository": "faas/hello", "tag": "v1"}).json()

    assert job["status"] == "succeeded"
    assert job["result"]["image_url"].startswith("registry.test:5000/faas/hello@sha256:")


def test_failure_is_set_per_app_name_with_code_message_and_log(
    infra: FakeInfraService, http: httpx.Client
) -> None:
    infra.fail(
        "build", "BUILD_FAILED", "app.py:3: SyntaxError", log_path="s3://l/x.log", app_name="bad"
    )
    bad = http.post("/v1/builds", json=build_request("t1:build", "bad")).json()["job_id"]
    good = http.post("/v1/builds", json=build_request("t2:build", "good")).json()["job_id"]

    failed = http.get(f"/v1/builds/{bad}").json()

    assert failed["status"] == "failed" and failed["result"] is None
    assert failed["error"] == {"code": "BUILD_FAILED", "message": "app.py:3: SyntaxError"}
    assert failed["log_path"] == "s3://l/x.log"
    assert http.get(f"/v1/builds/{good}").json()["status"] == "succeeded"


def test_unknown_job_ids_and_missing_fields_are_refused(http: httpx.Client) -> None:
    assert http.get("/v1/deployments/nope").status_code == 404
    refused = http.post("/v1/builds", json={"job_key": "k"})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert {"source", "artifact", "app_name"} <= {e["field"] for e in refused.json()["errors"]}


def test_a_push_without_a_tag_is_refused_as_the_real_service_does(http: httpx.Client) -> None:
    body = {"job_key": "t:push", "wasm_path": "s3://b/a.wasm", "app_name": "hello"}
    refused = http.post("/v1/pushes", json=body | {"repository": "faas/hello"})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["tag"]


def test_a_deploy_without_a_namespace_goes_to_the_default_one(
    infra: FakeInfraService, http: httpx.Client
) -> None:
    infra.instant("deploy")
    manifest = "apiVersion: core.spinkube.dev/v1alpha1\nkind: SpinApp\nmetadata:\n  name: hi\n"
    job = http.post("/v1/deployments", json={"job_key": "t:deploy", "manifest": manifest})
    assert job.status_code == 202
    assert job.json()["result"]["namespace"] == "default"


def test_unavailable_answers_503_for_the_next_requests(infra: FakeInfraService, http: httpx.Client):
    infra.unavailable(2)

    codes = [http.post("/v1/builds", json=build_request()).status_code for _ in range(3)]

    assert codes == [503, 503, 202]
    assert infra.posts_per_key["task-1:build"] == 3
    assert infra.jobs_created_per_key["task-1:build"] == 1


def test_unavailable_until_recover(infra: FakeInfraService, http: httpx.Client) -> None:
    infra.unavailable(status=502, kind="build")

    assert http.post("/v1/builds", json=build_request()).status_code == 502
    assert http.post("/v1/builds", json=build_request()).status_code == 502
    infra.recover()
    assert http.post("/v1/builds", json=build_request()).status_code == 202


def test_an_answer_lost_after_processing_still_created_the_job(
    infra: FakeInfraService, http: httpx.Client
) -> None:
    infra.unavailable(1, after_processing=True)

    assert http.post("/v1/builds", json=build_request()).status_code == 503
    assert http.post("/v1/builds", json=build_request()).status_code == 202
    assert infra.jobs_created_per_key["task-1:build"] == 1


def test_down_refuses_connections_and_up_listens_on_the_same_port(
    infra: FakeInfraService, http: httpx.Client
) -> None:
    job_id = http.post("/v1/builds", json=build_request()).json()["job_id"]
    url = infra.url

    infra.down()
    with pytest.raises(httpx.ConnectError):
        http.get(f"/v1/builds/{job_id}")
    infra.up()

    assert infra.url == url
    assert http.get(f"/v1/builds/{job_id}").json()["status"] == "succeeded"


def test_a_hang_outlasts_the_client_timeout_and_ends_when_the_server_stops(
    infra: FakeInfraService,
) -> None:
    infra.hang(1, seconds=30)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    started = time.monotonic()

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{infra.url}/v1/builds", json=build_request(), headers=headers, timeout=0.3)
    infra.stop()

    assert time.monotonic() - started < 3


def test_forgotten_jobs_answer_404_and_a_resubmission_creates_a_fresh_job(
    infra: FakeInfraService, http: httpx.Client
) -> None:
    old = http.post("/v1/builds", json=build_request()).json()["job_id"]

    infra.forget_jobs()

    assert http.get(f"/v1/builds/{old}").status_code == 404
    new = http.post("/v1/builds", json=build_request())
    assert new.status_code == 202 and new.json()["job_id"] != old
    assert infra.jobs_created_per_key["task-1:build"] == 2


def test_slow_requests_and_concurrency_per_job_key_are_measured(
    infra: FakeInfraService, http: httpx.Client
) -> None:
    infra.slow(0.3, kind="build")
    threads = [
        threading.Thread(target=http.post, args=("/v1/builds",), kwargs={"json": build_request()})
        for _ in range(3)
    ]
    started = time.monotonic()

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert time.monotonic() - started >= 0.3
    assert infra.max_concurrent_per_key["task-1:build"] == 3
    assert infra.jobs_created_per_key["task-1:build"] == 1
    assert infra.total_requests == 3


def test_scaffold_and_deploy_results_follow_the_request(
    infra: FakeInfraService, http: httpx.Client
):
    infra.instant()
    scaffold = {
        "job_key": "t:scaffold", "image_url": "registry.test:5000/faas/hello@sha256:ab",
        "app_name": "hello", "replicas": 3, "variables": {"greeting": "hi"},
    }  # fmt: skip
    manifest = http.post("/v1/scaffolds", json=scaffold).json()["result"]["manifest"]
    deploy = {"job_key": "t:deploy", "namespace": "faas", "manifest": manifest}

    deployed = http.post("/v1/deployments", json=deploy).json()["result"]

    assert "kind: SpinApp" in manifest and "replicas: 3" in manifest
    assert 'image: "registry.test:5000/faas/hello@sha256:ab"' in manifest
    assert deployed["name"] == "hello" and deployed["namespace"] == "faas"
    assert deployed["ready_replicas"] == 1 and deployed["endpoint"]
