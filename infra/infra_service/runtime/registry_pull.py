"""Pull a Spin app image as containerd does for containerd-shim-spin, and keep its component.

By digest: the manifest must hash to the digest the image names, and every blob used (config,
locked app, component) to its descriptor's digest. The formats the shim accepts are accepted
(spin-artifacts.md §1.4): `spin registry push` (a wasm layer and a locked-app layer) and a
single `application/wasm` layer (wkg), for which a one-component app serving `/...` is made.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from infra_service.config import MIB, Settings
from infra_service.jobs import JobFailure
from infra_service.oci import RegistryAuth, RegistryClient
from infra_service.push import (
    LOCKED_APP_MEDIA_TYPE,
    WASM_LAYER_MEDIA_TYPE,
    CredentialSource,
    locked_app,
)
from infra_service.runtime.store import BlobMismatch, BlobTooLarge, RuntimeStore

WKG_WASM_MEDIA_TYPE = "application/wasm"
INDEX_MEDIA_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def image_invalid(message: str) -> JobFailure:
    return JobFailure("IMAGE_INVALID", message)


@dataclass(frozen=True)
class ImageRef:
    """`registry/repository[:tag][@sha256:…]`."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        return self.digest or self.tag or "latest"


def parse_image(text: str) -> ImageRef:
    """The parts of an image reference; IMAGE_INVALID when it names no registry or is malformed."""
    name, _, digest = text.partition("@")
    registry, slash, path = name.partition("/")
    if not slash or not ("." in registry or ":" in registry or registry == "localhost"):
        raise image_invalid(f"image {text!r} must name its registry (host[:port]/repository).")
    repository, tag = path, None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = path.rpartition(":")
    if not _REPOSITORY.match(repository) or (tag is not None and not _TAG.match(tag)):
        raise image_invalid(f"image {text!r} is not a valid reference.")
    if digest and not _DIGEST.match(digest):
        raise image_invalid(f"image {text!r}: only sha256 digests are supported.")
    return ImageRef(registry, repository, tag, digest or None)


@dataclass(frozen=True)
class PulledApp:
    image_digest: str
    wasm_digest: str
    wasm_size: int
    locked_app: dict[str, Any]


class Puller:
    """Fetches and verifies images; components land in the store's blobs."""

    def __init__(
        self,
        *,
        settings: Settings,
        http: httpx.AsyncClient,
        credentials: CredentialSource,
        store: RuntimeStore,
    ) -> None:
        self._settings = settings
        self._http = http
        self._credentials = credentials
        self._store = store

    async def pull(self, image: str) -> PulledApp:
        """The app the image holds, its component verified and stored."""
        ref = parse_image(image)
        registry = await self._client(ref)
        body, media_type = await registry.get_manifest(
            ref.repository, ref.reference, max_bytes=4 * MIB
        )
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if ref.digest and digest != ref.digest:
            raise JobFailure(
                "IMAGE_DIGEST_MISMATCH",
                f"the registry's manifest for {image} hashes to {digest}, not {ref.digest}.",
            )
        manifest = _json(body, "the manifest")
        if media_type in INDEX_MEDIA_TYPES or manifest.get("mediaType") in INDEX_MEDIA_TYPES:
            raise image_invalid(f"{image} is an image index; a Spin app is a single manifest.")
        layers = manifest.get("layers")
        config = manifest.get("config")
        if manifest.get("schemaVersion") != 2 or not isinstance(layers, list) or not config:
            raise image_invalid(f"{image}: not an OCI image manifest (schemaVersion 2, layers).")
        image_config = _json(await self._small_blob(registry, ref, config), "the image config")
        if image_config.get("architecture") != "wasm":
            raise image_invalid(
                f"{image}: the image config's architecture is "
                f"{image_config.get('architecture')!r}, not 'wasm' (not a Spin app image)."
            )
        app = await self._locked_app(registry, ref, layers)
        wasm = _component_layer(app, layers, image=image)
        await self._store_component(registry, ref, wasm)
        return PulledApp(
            image_digest=digest,
            wasm_digest=wasm["digest"],
            wasm_size=int(wasm["size"]),
            locked_app=app,
        )

    async def _client(self, ref: ImageRef) -> RegistryClient:
        settings = self._settings
        if ref.registry == settings.registry_url:
            base, credentials = settings.registry_base_url, await self._credentials()
        else:
            base, credentials = f"https://{ref.registry}", None
        return RegistryClient(
            http=self._http,
            base_url=base,
            auth=RegistryAuth(credentials),
            chunk_bytes=settings.push_chunk_bytes,
            failure_code="IMAGE_PULL_FAILED",
        )

    async def _small_blob(
        self, registry: RegistryClient, ref: ImageRef, descriptor: dict[str, Any]
    ) -> bytes:
        digest = _descriptor_digest(descriptor)
        data = await registry.get_blob(ref.repository, digest, max_bytes=4 * MIB)
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise JobFailure("IMAGE_DIGEST_MISMATCH", f"blob {digest} hashes to {actual}.")
        return data

    async def _locked_app(
        self, registry: RegistryClient, ref: ImageRef, layers: list[Any]
    ) -> dict[str, Any]:
        locked = [layer for layer in layers if _media_type(layer) == LOCKED_APP_MEDIA_TYPE]
        if locked:
            return _json(await self._small_blob(registry, ref, locked[-1]), "the locked app")
        wkg = [layer for layer in layers if _media_type(layer) == WKG_WASM_MEDIA_TYPE]
        if len(wkg) == 1:  # what the shim makes of a wkg package: one component on /...
            return locked_app(
                app_name=ref.repository.rsplit("/", 1)[-1],
                version=ref.tag or "0.0.0",
                wasm_digest=_descriptor_digest(wkg[0]),
            )
        raise image_invalid(
            f"{ref.registry}/{ref.repository}: no locked-app layer ({LOCKED_APP_MEDIA_TYPE}); "
            "containerd-shim-spin cannot run such an image either."
        )

    async def _store_component(
        self, registry: RegistryClient, ref: ImageRef, layer: dict[str, Any]
    ) -> None:
        digest, size = layer["digest"], int(layer.get("size") or 0)
        limit = self._settings.runtime_max_component_bytes
        if size > limit:
            raise image_invalid(f"the component is {size} bytes; the limit is {limit}.")
        if self._store.has_blob(digest):
            return
        try:
            stored = await self._store.put_blob(
                digest, registry.stream_blob(ref.repository, digest), max_bytes=limit
            )
        except BlobMismatch as exc:
            raise JobFailure("IMAGE_DIGEST_MISMATCH", f"component layer {digest}: {exc}") from exc
        except BlobTooLarge as exc:
            raise image_invalid(f"component layer {digest}: {exc}") from exc
        if size and stored != size:
            raise image_invalid(f"component layer {digest} is {stored} bytes, not {size}.")


def _component_layer(app: dict[str, Any], layers: list[Any], *, image: str) -> dict[str, Any]:
    """The wasm layer the app's one component runs (Spin resolves sources by digest)."""
    components = app.get("components")
    if not isinstance(components, list) or len(components) != 1:
        count = len(components) if isinstance(components, list) else 0
        raise image_invalid(f"{image}: the local runtime runs one component per app, not {count}.")
    source = components[0].get("source") if isinstance(components[0], dict) else None
    digest = source.get("digest") if isinstance(source, dict) else None
    if not isinstance(digest, str):
        raise image_invalid(f"{image}: the component's source names no digest.")
    triggers = app.get("triggers") or []
    if not any(isinstance(t, dict) and t.get("trigger_type") == "http" for t in triggers):
        raise image_invalid(f"{image}: the app has no HTTP trigger.")
    for layer in layers:
        if _media_type(layer) in (WASM_LAYER_MEDIA_TYPE, WKG_WASM_MEDIA_TYPE) and (
            _descriptor_digest(layer) == digest
        ):
            return dict(layer)
    raise image_invalid(f"{image}: no wasm layer has the component's digest {digest}.")


def _media_type(layer: Any) -> str | None:
    return layer.get("mediaType") if isinstance(layer, dict) else None


def _descriptor_digest(descriptor: Any) -> str:
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise image_invalid(f"a descriptor has no sha256 digest: {str(descriptor)[:200]}")
    return digest


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise image_invalid(f"{what} is not JSON.") from exc
    if not isinstance(value, dict):
        raise image_invalid(f"{what} is not a JSON object.")
    return value
