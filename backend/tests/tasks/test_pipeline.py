"""Tasks driven by the pollers against a fake infrastructure service over HTTP."""

import asyncio
import hashlib

import boto3
import httpx

from app.config import Settings
from testing.fake_infra import FakeInfraService
from tests.conftest import create_function, create_workspace, with_overrides
from tests.tasks.conftest import HELLO, upload, wait_for_task


async def wait_for_function(api: httpx.AsyncClient, function_id: str, status: str) -> dict:
    for _ in range(100):
        function = (await api.get(f"/api/functions/{function_id}")).json()
        if function["deployment_status"] == status:
            return function
        await asyncio.sleep(0.02)
    raise AssertionError(f"function {function_id} is {function['deployment_status']}, not {status}")


def _s3(settings: Settings):
    return boto3.client(
        "s3",
        endpoint_url=settings.aws_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


async def test_build_task_stores_the_source_and_completes_with_the_wasm_path(
    api: httpx.AsyncClient, workspace: dict, fast_settings: Settings, fake_infra: FakeInfraService
) -> None:
    response = await upload(api, workspace["id"], filename="my handler.py")
    assert response.status_code == 202
    created = response.json()
    assert created["status"] == "pending" and created["stage"] == "build"
    assert response.headers["location"] == f"/api/v1/tasks/{created['task_id']}"
    task_id = created["task_id"]

    task = await wait_for_task(api, task_id)

    bucket = fast_settings.s3_bucket
    assert task["status"] == "completed", task
    assert task["type"] == "build"
    assert task["result"]["wasm_path"] == f"s3://{bucket}/build-artifacts/{task_id}/hello.wasm"
    source_key = f"build-sources/{workspace['id']}/{task_id}/my_handler.py"
    assert task["result"]["source_code_path"] == f"s3://{bucket}/{source_key}"
    assert task["result"]["source_sha256"] == hashlib.sha256(HELLO).hexdigest()
    stored = _s3(fast_settings).get_object(Bucket=bucket, Key=source_key)["Body"].read()
    assert stored == HELLO
    [stage] = task["stages"]
    assert stage["status"] == "completed" and stage["started_at"] and stage["finished_at"]
    [submitted] = fake_infra.submissions("build")
    assert submitted["job_key"] == f"{task_id}:build"
    assert submitted["source"] == task["result"]["source_code_path"]
    assert submitted["artifact"] == task["result"]["wasm_path"]


async def test_push_scaffold_and_deploy_follow_earlier_tasks(
    api: httpx.AsyncClient, workspace: dict
) -> None:
    build = await wait_for_task(api, (await upload(api, workspace["id"])).json()["task_id"])

    push = await api.post(
        "/api/v1/push", json={"workspace_id": workspace["id"], "task_id": build["task_id"]}
    )
    assert push.status_code == 202, push.text
    pushed = await wait_for_task(api, push.json()["task_id"])
    assert pushed["status"] == "completed" and pushed["type"] == "push"
    assert "@sha256:" in pushed["result"]["image_url"]

    scaffold = await api.post(
        "/api/v1/scaffold",
        json={
            "workspace_id": workspace["id"],
            "task_id": pushed["task_id"],
            "replicas": 3,
            "variables": {"greeting": "hi"},
        },
    )
    assert scaffold.status_code == 202, scaffold.text
    scaffolded = await wait_for_task(api, scaffold.json()["task_id"])
    assert scaffolded["status"] == "completed"
    assert "kind: SpinApp" in scaffolded["result"]["manifest"]

    deploy = await api.post(
        "/api/v1/deploy", json={"workspace_id": workspace["id"], "task_id": scaffolded["task_id"]}
    )
    assert deploy.status_code == 202, deploy.text
    deployed = await wait_for_task(api, deploy.json()["task_id"])
    assert deployed["status"] == "completed"
    assert deployed["result"]["deployment"]["ready_replicas"] >= 1


async def test_push_of_an_unfinished_or_foreign_wasm_is_refused(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    fake_infra.succeed_after("build", polls=1000)
    building = (await upload(api, workspace["id"])).json()
    early = await api.post(
        "/api/v1/push", json={"workspace_id": workspace["id"], "task_id": building["task_id"]}
    )
    assert early.status_code == 409
    assert early.json()["code"] == "TASK_NOT_COMPLETED"
    foreign = await api.post(
        "/api/v1/push",
        json={
            "workspace_id": workspace["id"],
            "wasm_path": "s3://another-bucket/secret.wasm",
            "app_name": "hello",
        },
    )
    assert foreign.status_code == 400


async def test_build_and_push_runs_both_stages_in_one_task(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    # A repository of one's own choosing lies under the workspace's (app.storage.keys).
    repository = f"faas-functions/{workspace['id']}/team-hello"
    response = await upload(
        api, workspace["id"], path="/api/v1/build-and-push", repository=repository, tag="v1"
    )
    assert response.status_code == 202, response.text
    task = await wait_for_task(api, response.json()["task_id"])
    assert task["status"] == "completed"
    assert [(s["name"], s["status"]) for s in task["stages"]] == [
        ("build", "completed"),
        ("push", "completed"),
    ]
    assert task["result"]["wasm_path"] and "@sha256:" in task["result"]["image_url"]
    [push] = fake_infra.submissions("push")
    assert push["wasm_path"] == task["result"]["wasm_path"]
    assert (push["repository"], push["tag"]) == (repository, "v1")


async def test_function_deploy_runs_the_whole_pipeline_and_the_function_follows(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    function = (
        await api.post(
            f"/api/workspaces/{workspace['id']}/functions",
            json={"name": "greeter", "replicas": 3, "variables": {"greeting": "hi"}},
        )
    ).json()
    response = await upload(api, workspace["id"], path=f"/api/functions/{function['id']}/deploy")
    assert response.status_code == 202, response.text
    task = await wait_for_task(api, response.json()["task_id"])
    assert task["status"] == "completed", task
    assert task["type"] == "build-and-deploy" and task["app_name"] == "greeter"
    assert [s["name"] for s in task["stages"]] == ["build", "push", "scaffold", "deploy"]
    [push] = fake_infra.submissions("push")
    assert push["variables"] == ["greeting"]
    # The workspace's own repository and namespace; its and the function's ids for the labels.
    assert push["repository"] == f"faas-functions/{workspace['id']}/greeter"
    [scaffold] = fake_infra.submissions("scaffold")
    assert scaffold["replicas"] == 3 and scaffold["variables"] == {"greeting": "hi"}
    assert (scaffold["workspace_id"], scaffold["function_id"]) == (workspace["id"], function["id"])
    [deploy] = fake_infra.submissions("deploy")
    assert deploy["manifest"] == task["result"]["manifest"]
    assert deploy["namespace"] == f"faas-{workspace['id']}"
    assert (deploy["workspace_id"], deploy["function_id"]) == (workspace["id"], function["id"])

    # The function follows its task right after the task's own write.
    after = await wait_for_function(api, function["id"], "deployed")
    assert after["latest_task_id"] == task["task_id"]
    assert after["wasm_path"] == task["result"]["wasm_path"]
    assert after["image_url"] == task["result"]["image_url"]
    assert after["endpoint"] == task["result"]["deployment"]["endpoint"]


async def test_a_second_pipeline_for_a_busy_function_is_409(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    function = await create_function(api, workspace["id"], "busy")
    fake_infra.succeed_after("build", polls=6)
    path = f"/api/functions/{function['id']}/deploy"
    first = await upload(api, workspace["id"], path=path)
    assert first.status_code == 202
    second = await upload(api, workspace["id"], path=path)
    assert second.status_code == 409
    assert second.json()["code"] == "TASK_IN_PROGRESS"
    await wait_for_task(api, first.json()["task_id"])
    third = await upload(api, workspace["id"], path=path)
    assert third.status_code == 202


async def test_a_failed_build_carries_the_services_code_and_message(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    function = await create_function(api, workspace["id"], "broken")
    message = 'File "app.py", line 3\n    def handle_request(self\n SyntaxError: invalid syntax'
    fake_infra.fail("build", "BUILD_FAILED", message)
    response = await upload(api, workspace["id"], path=f"/api/functions/{function['id']}/deploy")
    task = await wait_for_task(api, response.json()["task_id"])
    assert task["status"] == "failed"
    assert task["error_code"] == "BUILD_FAILED"
    assert task["error_message"] == message
    assert task["stages"][0]["status"] == "failed"
    assert task["stages"][1]["status"] == "pending"
    assert fake_infra.submissions("push") == []
    await wait_for_function(api, function["id"], "failed")


async def test_the_task_survives_the_service_being_down_for_a_while(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    fake_infra.down()
    task_id = (await upload(api, workspace["id"])).json()["task_id"]
    await asyncio.sleep(1.5)  # several polls meet a refused connection
    waiting = (await api.get(f"/api/v1/tasks/{task_id}")).json()
    assert waiting["status"] in {"pending", "running"}
    fake_infra.up()
    task = await wait_for_task(api, task_id)
    assert task["status"] == "completed"


async def test_5xx_answers_are_retried(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    fake_infra.unavailable(4)
    task = await wait_for_task(api, (await upload(api, workspace["id"])).json()["task_id"])
    assert task["status"] == "completed"


async def test_a_lost_post_answer_is_resubmitted_by_job_key_without_a_second_job(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    fake_infra.unavailable(1, kind="build", after_processing=True)
    task = await wait_for_task(api, (await upload(api, workspace["id"])).json()["task_id"])
    assert task["status"] == "completed"
    key = f"{task['task_id']}:build"
    assert fake_infra.posts_per_key[key] == 2
    assert fake_infra.jobs_created_per_key[key] == 1


async def test_a_job_already_succeeded_on_its_first_submission_completes_the_task(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    # What a resubmission by job_key finds after a crash: the finished job, in the POST answer.
    fake_infra.instant("build")
    task = await wait_for_task(api, (await upload(api, workspace["id"])).json()["task_id"])
    assert task["status"] == "completed", task
    assert task["stages"][0]["status"] == "completed" and task["result"]["wasm_path"]
    assert fake_infra.posts_per_key[f"{task['task_id']}:build"] == 1
    assert fake_infra.gets_per_job == {}


async def test_a_resubmission_after_a_lost_answer_may_find_the_job_finished(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    fake_infra.instant()
    fake_infra.unavailable(1, kind="build", after_processing=True)
    response = await upload(api, workspace["id"], path="/api/v1/build-and-push")
    task = await wait_for_task(api, response.json()["task_id"])
    assert task["status"] == "completed", task
    assert [s["status"] for s in task["stages"]] == ["completed", "completed"]
    key = f"{task['task_id']}:build"
    assert (fake_infra.posts_per_key[key], fake_infra.jobs_created_per_key[key]) == (2, 1)


async def test_a_forgotten_job_is_resubmitted_by_job_key_and_completes(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    fake_infra.succeed_after("build", polls=4)
    task_id = (await upload(api, workspace["id"])).json()["task_id"]
    await wait_for_task(api, task_id, until="job")
    fake_infra.forget_jobs()
    task = await wait_for_task(api, task_id)
    assert task["status"] == "completed"
    assert fake_infra.posts_per_key[f"{task_id}:build"] == 2
    logs = (await api.get(f"/api/v1/tasks/{task_id}/logs")).json()["items"]
    assert any("forgot" in entry["message"] for entry in logs)


async def test_a_service_that_never_answers_ends_in_timeout(
    fast_settings: Settings, fake_infra: FakeInfraService
) -> None:
    from tests.tasks.conftest import running_backend

    fake_infra.hang(None, seconds=3.0)
    settings = with_overrides(
        fast_settings, **{"infra_request_timeout_seconds": 0.3, "poll_max_attempts": 3}
    )
    # Only this backend runs (no `workspace`/`api` fixture): a second poller with the default
    # test budget would share the table and could claim the task.
    async with running_backend(settings) as api:
        workspace = await create_workspace(api)
        task = await wait_for_task(api, (await upload(api, workspace["id"])).json()["task_id"])
    assert task["status"] == "failed"
    assert task["error_code"] == "TIMEOUT"


async def test_a_stage_that_never_finishes_ends_in_timeout(
    fast_settings: Settings, fake_infra: FakeInfraService
) -> None:
    from tests.tasks.conftest import running_backend

    fake_infra.succeed_after("build", polls=10_000)
    settings = with_overrides(fast_settings, **{"poll_max_attempts": 4})
    async with running_backend(settings) as api:  # the only backend, as above
        workspace = await create_workspace(api)
        task = await wait_for_task(api, (await upload(api, workspace["id"])).json()["task_id"])
    assert task["status"] == "failed"
    assert task["error_code"] == "TIMEOUT"
    assert "build" in task["error_message"]


async def test_the_same_idempotency_key_returns_the_first_task(
    api: httpx.AsyncClient, workspace: dict, fast_settings: Settings
) -> None:
    key = {"Idempotency-Key": "retry-1"}
    first = await upload(api, workspace["id"], headers=key)
    again = await upload(api, workspace["id"], headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json()["task_id"] == first.json()["task_id"]
    assert again.headers["idempotent-replayed"] == "true"
    concurrent = await asyncio.gather(
        *(upload(api, workspace["id"], headers={"Idempotency-Key": "race"}) for _ in range(3))
    )
    assert len({r.json()["task_id"] for r in concurrent}) == 1
    listed = (await api.get(f"/api/workspaces/{workspace['id']}/tasks")).json()["items"]
    assert len(listed) == 2
    objects = _s3(fast_settings).list_objects_v2(Bucket=fast_settings.s3_bucket)["Contents"]
    assert len(objects) == 2


async def test_a_replayed_upload_is_answered_before_anything_reaches_s3(
    api: httpx.AsyncClient, workspace: dict, fast_settings: Settings
) -> None:
    key = {"Idempotency-Key": "before-s3"}
    first = await upload(api, workspace["id"], headers=key)
    assert first.status_code == 202
    # Take S3 away: a replay that tried to store the source again would fail now.
    s3, bucket = _s3(fast_settings), fast_settings.s3_bucket
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)
    again = await upload(api, workspace["id"], headers=key)
    assert again.status_code == 202, again.text
    assert again.json()["task_id"] == first.json()["task_id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = await upload(api, workspace["id"], headers=key, content=HELLO + b"# changed\n")
    assert other.status_code == 409  # a mismatch is refused before the upload too


async def test_the_same_idempotency_key_with_another_file_is_409(
    api: httpx.AsyncClient, workspace: dict
) -> None:
    key = {"Idempotency-Key": "k"}
    assert (await upload(api, workspace["id"], headers=key)).status_code == 202
    other = await upload(api, workspace["id"], headers=key, content=HELLO + b"# changed\n")
    assert other.status_code == 409
    assert other.json()["code"] == "IDEMPOTENCY_KEY_MISMATCH"


async def test_a_workspaces_tasks_are_listed_and_filtered_by_status(
    api: httpx.AsyncClient, workspace: dict, fake_infra: FakeInfraService
) -> None:
    done = (await upload(api, workspace["id"], app_name="done")).json()["task_id"]
    await wait_for_task(api, done)
    fake_infra.fail("build", app_name="broken")
    failed = (await upload(api, workspace["id"], app_name="broken")).json()["task_id"]
    await wait_for_task(api, failed)
    everything = (await api.get(f"/api/workspaces/{workspace['id']}/tasks")).json()["items"]
    assert [t["task_id"] for t in everything] == [failed, done]  # newest first
    only_failed = await api.get(
        f"/api/workspaces/{workspace['id']}/tasks", params={"status": "failed"}
    )
    assert [t["task_id"] for t in only_failed.json()["items"]] == [failed]
    bad = await api.get(f"/api/workspaces/{workspace['id']}/tasks", params={"status": "lost"})
    assert bad.status_code == 422


async def test_unknown_task_is_404(api: httpx.AsyncClient) -> None:
    for task_id in ["01hzzzzzzzzzzzzzzzzzzzzzzz", "not-an-id"]:
        response = await api.get(f"/api/v1/tasks/{task_id}")
        assert response.status_code == 404
        assert response.json()["code"] == "TASK_NOT_FOUND"
