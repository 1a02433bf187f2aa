"""Pulling an app image: every digest checked, only the formats the shim runs accepted.

The registry is an httpx transport serving a dict, so that a test can serve what no honest
registry would (bytes that do not match their digest); the real registry is used by
test_local_target.py and the e2e module.
"""

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra_service.config import Settings
from infra_service.jobs import JobFailure
from infra_service.push import (
    CONFIG_MEDIA_TYPE,
    LOCKED_APP_MEDIA_TYPE,
    WASM_LAYER_MEDIA_TYPE,
    compact,
    image_config,
    locked_app,
)
from infra_service.runtime.registry_pull import Puller, parse_image
from infra_service.runtime.store import RuntimeStore

REGISTRY = "registry.test:5000"
WASM = b"\0asm fake component"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest(data), "size": len(data)}


class FakeRegistry:
    """Manifests by reference and blobs by digest; `tamper` changes what is served."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[bytes, str]] = {}

    def add_blob(self, data: bytes) -> str:
        self.blobs[digest(data)] = data
        return digest(data)

    def add_image(self, layers: list[tuple[str, bytes]], *, architecture: str = "wasm") -> str:
        locked = next((d for t, d in layers if t == LOCKED_APP_MEDIA_TYPE), b"{}")
        config = compact(image_config(locked_app_digest=digest(locked)) | {
            "architecture": architecture})  # fmt: skip
        self.add_blob(config)
        for _, data in layers:
            self.add_blob(data)
        manifest = compact({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor(CONFIG_MEDIA_TYPE, config),
            "layers": [descriptor(t, d) for t, d in layers],
        })  # fmt: skip
        self.manifests[digest(manifest)] = (manifest, "application/vnd.oci.image.manifest.v1+json")
        return f"{REGISTRY}/apps/hello@{digest(manifest)}"

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "/manifests/" in path:
            found = self.manifests.get(path.rsplit("/", 1)[1])
            if found is None:
                return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
            return httpx.Response(200, content=found[0], headers={"content-type": found[1]})
        if "/blobs/" in path:
            data = self.blobs.get(path.rsplit("/", 1)[1])
            if data is None:
                return httpx.Response(404, json={"errors": [{"code": "BLOB_UNKNOWN"}]})
            return httpx.Response(200, content=b"" if request.method == "HEAD" else data)
        return httpx.Response(404)


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def pull(registry: FakeRegistry, tmp_path: Path) -> Callable[[str], Any]:
    store = RuntimeStore(tmp_path / "runtime")

    async def run(image: str) -> Any:
        settings = Settings(_env_file=None, registry_url="elsewhere:1")  # type: ignore[call-arg]
        async with httpx.AsyncClient(transport=httpx.MockTransport(registry.handler)) as http:
            puller = Puller(settings=settings, http=http, credentials=_none, store=store)
            return await puller.pull(image), store

    return run


async def _none() -> None:
    return None


def spin_layers(wasm: bytes = WASM, **changes: Any) -> list[tuple[str, bytes]]:
    app = locked_app(app_name="hello", version="v1", wasm_digest=digest(wasm)) | changes
    return [(WASM_LAYER_MEDIA_TYPE, wasm), (LOCKED_APP_MEDIA_TYPE, compact(app))]


async def test_a_spin_registry_push_image_is_pulled_verified_and_stored(
    registry: FakeRegistry, pull: Any
) -> None:
    image = registry.add_image(spin_layers())
    pulled, store = await pull(image)
    assert pulled.wasm_digest == digest(WASM) and pulled.wasm_size == len(WASM)
    assert pulled.image_digest == image.split("@")[1]
    assert pulled.locked_app["components"][0]["id"] == "hello"
    assert store.blob_path(pulled.wasm_digest).read_bytes() == WASM


async def test_a_wkg_single_wasm_image_runs_as_one_component_on_every_path(
    registry: FakeRegistry, pull: Any
) -> None:
    image = registry.add_image([("application/wasm", WASM)])
    pulled, _ = await pull(image)
    (trigger,) = pulled.locked_app["triggers"]
    assert trigger["trigger_config"]["route"] == "/..."
    assert pulled.locked_app["components"][0]["source"]["digest"] == digest(WASM)


async def test_a_manifest_that_does_not_hash_to_the_named_digest_is_refused(
    registry: FakeRegistry, pull: Any
) -> None:
    image = registry.add_image(spin_layers())
    named = image.split("@")[1]
    manifest, media_type = registry.manifests[named]
    registry.manifests[named] = (manifest.replace(b'"size"', b'"size" '), media_type)
    with pytest.raises(JobFailure) as failure:
        await pull(image)
    assert failure.value.code == "IMAGE_DIGEST_MISMATCH"


async def test_a_component_layer_that_does_not_match_its_digest_is_not_stored(
    registry: FakeRegistry, pull: Any, tmp_path: Path
) -> None:
    image = registry.add_image(spin_layers())
    registry.blobs[digest(WASM)] = b"\0asm something else"
    with pytest.raises(JobFailure) as failure:
        await pull(image)
    assert failure.value.code == "IMAGE_DIGEST_MISMATCH"
    assert not RuntimeStore(tmp_path / "runtime").has_blob(digest(WASM))


@pytest.mark.parametrize(
    ("layers", "architecture", "words"),
    [
        ([(WASM_LAYER_MEDIA_TYPE, WASM)], "wasm", "no locked-app layer"),
        (spin_layers(), "amd64", "architecture is 'amd64'"),
        (spin_layers(components=[]), "wasm", "one component per app, not 0"),
        (spin_layers(triggers=[{"trigger_type": "redis"}]), "wasm", "no HTTP trigger"),
    ],
)
async def test_images_the_shim_would_not_run_are_refused_with_the_reason(
    registry: FakeRegistry, pull: Any, layers: Any, architecture: str, words: str
) -> None:
    image = registry.add_image(layers, architecture=architecture)
    with pytest.raises(JobFailure) as failure:
        await pull(image)
    assert failure.value.code == "IMAGE_INVALID"
    assert words in failure.value.message


async def test_an_image_the_registry_does_not_have_fails_the_pull(pull: Any) -> None:
    with pytest.raises(JobFailure) as failure:
        await pull(f"{REGISTRY}/apps/hello@sha256:{'0' * 64}")
    assert failure.value.code == "IMAGE_PULL_FAILED"
    assert "MANIFEST_UNKNOWN" in failure.value.message


def test_image_references_name_their_registry() -> None:
    ref = parse_image("127.0.0.1:5001/faas/fn:v1@sha256:" + "a" * 64)
    assert (ref.registry, ref.repository, ref.tag) == ("127.0.0.1:5001", "faas/fn", "v1")
    assert ref.reference == "sha256:" + "a" * 64
    assert parse_image("localhost/x:latest").reference == "latest"
    for bad in ("hello", "library/hello", "r.io/UPPER", "r.io/x@md5:abc"):
        with pytest.raises(JobFailure):
            parse_image(bad)


def test_the_fake_registry_serves_json_manifests(registry: FakeRegistry) -> None:
    image = registry.add_image(spin_layers())
    manifest, _ = registry.manifests[image.split("@")[1]]
    assert json.loads(manifest)["layers"][1]["mediaType"] == LOCKED_APP_MEDIA_TYPE
