"""Push: the component and its locked app to a real registry, read back with skopeo."""

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from conftest import AUTH, BUCKET, make_settings, run_job
from infra_service.main import create_app
from infra_service.oci import RegistryAuth
from testing.infra_service import Registry, running_registry
from testing.oci_format import check_spin_artifact, skopeo_inspect

# Not a runnable component, but the registry and the format do not care; e2e pushes real ones.
FAKE_WASM = b"\0asm\x0d\x00\x01\x00" + bytes(range(256)) * 1200


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    with running_registry() as running:
        yield running


@pytest.fixture
async def pusher(
    aws_endpoint: str, s3: Any, tmp_path: Path, registry: Registry
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        aws_endpoint,
        tmp_path / "scratch",
        registry_url=registry.host,
        registry_insecure=True,
        push_chunk_bytes=64 * 1024,  # several PATCH chunks for the ~300 kB blob
    )
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://infra.test", headers=AUTH
        ) as http,
    ):
        yield http


def _push_body(key: str, tag: str = "v1") -> dict[str, str]:
    return {
        "job_key": key,
        "wasm_path": f"s3://{BUCKET}/build-artifacts/t1/hello.wasm",
        "app_name": "hello",
        "repository": "faas-functions",
        "tag": tag,
    }


async def test_a_component_is_pushed_in_the_spin_registry_push_format(
    pusher: httpx.AsyncClient, s3: Any, registry: Registry
) -> None:
    s3.put_object(Bucket=BUCKET, Key="build-artifacts/t1/hello.wasm", Body=FAKE_WASM)
    job = await run_job(pusher, "pushes", _push_body("t1:push"))
    assert job["status"] == "succeeded", job["error"]
    image_url = job["result"]["image_url"]
    assert image_url.startswith(f"{registry.host}/faas-functions@sha256:")
    check_spin_artifact(
        image_url=image_url,
        app_name="hello",
        wasm_sha256=hashlib.sha256(FAKE_WASM).hexdigest(),
        wasm_size=len(FAKE_WASM),
    )
    by_tag = json.loads(skopeo_inspect(f"{registry.host}/faas-functions:v1", "--raw"))
    assert by_tag["layers"][0]["digest"] == "sha256:" + hashlib.sha256(FAKE_WASM).hexdigest()


async def test_a_component_known_by_its_stored_digest_is_not_uploaded_twice(
    pusher: httpx.AsyncClient, s3: Any
) -> None:
    digest = hashlib.sha256(FAKE_WASM).hexdigest()
    s3.put_object(
        Bucket=BUCKET,
        Key="build-artifacts/t1/hello.wasm",
        Body=FAKE_WASM,
        Metadata={"sha256": digest},
    )
    first = await run_job(pusher, "pushes", _push_body("t1:push", "a"))
    second = await run_job(pusher, "pushes", _push_body("t2:push", "b"))
    assert first["status"] == second["status"] == "succeeded"
    assert first["result"]["wasm_digest"] == second["result"]["wasm_digest"] == f"sha256:{digest}"


async def test_a_missing_component_fails_the_push_plainly(pusher: httpx.AsyncClient) -> None:
    job = await run_job(pusher, "pushes", _push_body("t1:push"))
    assert job["status"] == "failed"
    assert job["error"]["code"] == "NOT_FOUND"
    assert "build-artifacts/t1/hello.wasm" in job["error"]["message"]


async def test_an_unreachable_registry_is_reported_as_such(
    aws_endpoint: str, s3: Any, tmp_path: Path
) -> None:
    s3.put_object(Bucket=BUCKET, Key="build-artifacts/t1/hello.wasm", Body=FAKE_WASM)
    with running_registry() as gone:
        host = gone.host
    settings = make_settings(
        aws_endpoint, tmp_path / "scratch", registry_url=host, registry_insecure=True
    )
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://infra.test", headers=AUTH
        ) as http,
    ):
        job = await run_job(http, "pushes", _push_body("t1:push"))
    assert job["error"]["code"] == "REGISTRY_UNAVAILABLE"
    assert host in job["error"]["message"]


async def test_registry_auth_answers_a_bearer_challenge_with_a_token() -> None:
    seen: list[str | None] = []

    def registry(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            assert request.url.params["scope"] == "repository:app:push,pull"
            expected = "Basic " + base64.b64encode(b"user:secret").decode()
            assert request.headers["authorization"] == expected
            return httpx.Response(200, json={"token": "t0k3n"})
        seen.append(request.headers.get("authorization"))
        if request.headers.get("authorization") != "Bearer t0k3n":
            challenge = (
                'Bearer realm="https://r.test/token",service="r.test",'
                'scope="repository:app:push,pull"'
            )
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return httpx.Response(202, headers={"Location": "/v2/app/blobs/uploads/1"})

    auth = RegistryAuth(("user", "secret"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(registry)) as http:
        first = await http.post("https://r.test/v2/app/blobs/uploads/", auth=auth)
        second = await http.post("https://r.test/v2/app/blobs/uploads/", auth=auth)
    assert first.status_code == second.status_code == 202
    assert seen == [
        "Basic " + base64.b64encode(b"user:secret").decode(),
        "Bearer t0k3n",
        "Bearer t0k3n",
    ]


def test_the_locked_app_declares_the_variables_the_spinapp_sets() -> None:
    from infra_service.push import locked_app

    plain = locked_app(app_name="hello", version="v1", wasm_digest="sha256:abc")
    assert "variables" not in plain and "config" not in plain["components"][0]

    document = locked_app(
        app_name="hello", version="v1", wasm_digest="sha256:abc", variables=["greeting", "mode"]
    )
    assert document["variables"] == {"greeting": {}, "mode": {}}
    (component,) = document["components"]
    assert component["config"] == {"greeting": "{{ greeting }}", "mode": "{{ mode }}"}
    assert component["source"] == {"content_type": "application/wasm", "digest": "sha256:abc"}


def _manifest_status(registry: Registry, reference: str) -> int:
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    url = f"{registry.url}/v2/faas-functions/manifests/{reference}"
    return httpx.head(url, headers=accept).status_code


async def test_an_image_is_deleted_by_digest_and_the_delete_is_idempotent(
    pusher: httpx.AsyncClient, s3: Any, registry: Registry
) -> None:
    s3.put_object(Bucket=BUCKET, Key="build-artifacts/t1/hello.wasm", Body=FAKE_WASM)
    first = await run_job(pusher, "pushes", _push_body("d1:push", tag="d1"))
    kept = await run_job(pusher, "pushes", _push_body("d2:push", tag="d2"))
    digest = first["result"]["digest"]
    assert _manifest_status(registry, digest) == 200

    answer = await pusher.delete(f"/v1/images/faas-functions/{digest}")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"repository": "faas-functions", "reference": digest, "deleted": True}
    assert _manifest_status(registry, digest) == 404
    assert _manifest_status(registry, "d1") == 404  # its tag went with it
    assert _manifest_status(registry, kept["result"]["digest"]) == 200  # another image stays

    again = await pusher.delete(f"/v1/images/faas-functions/{digest}")
    assert again.status_code == 200 and again.json()["deleted"] is False
    by_tag = await pusher.delete("/v1/images/faas-functions/d2")
    assert by_tag.json()["deleted"] is True
    assert _manifest_status(registry, kept["result"]["digest"]) == 404


async def test_an_image_delete_checks_its_names_and_the_token(pusher: httpx.AsyncClient) -> None:
    for path in ("/v1/images/Bad_Repo/v1", "/v1/images/faas-functions/sha256:xyz", "/v1/images/x"):
        answer = await pusher.delete(path)
        assert answer.status_code in (404, 422), (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    stranger = await pusher.delete("/v1/images/faas-functions/v1", headers={"Authorization": ""})
    assert stranger.status_code == 401


async def test_ecr_repositories_of_workspaces_are_created_on_their_first_push(
    aws_endpoint: str,
) -> None:
    import aioboto3

    from infra_service.push import ecr_repository_maker

    session = aioboto3.Session()
    async with session.client(
        "ecr", endpoint_url=aws_endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    ) as ecr:  # fmt: skip
        make = ecr_repository_maker(ecr_client=ecr, keep_images=7)
        name = "faas-functions/01jaaaaaaaaaaaaaaaaaaaaaaa/hello"
        await make(name)
        await make(name)  # remembered: no second call
        fresh = ecr_repository_maker(ecr_client=ecr)
        await fresh(name)  # another process: the repository exists already, which is fine
        (repository,) = (await ecr.describe_repositories(repositoryNames=[name]))["repositories"]
        assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
        policy = await ecr.get_lifecycle_policy(repositoryName=name)
        assert (
            json.loads(policy["lifecyclePolicyText"])["rules"][0]["selection"]["countNumber"] == 7
        )
