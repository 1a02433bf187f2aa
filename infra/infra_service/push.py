"""The push job: a built component → an OCI artifact in the format `spin registry push` writes.

Layers in order: the component (`…layer.v1+wasm`), then the locked app JSON
(`…spin.application.v1+config`) whose component source points at the wasm layer's digest;
the config carries the locked app's digest as a label (SPEC §7, spin-artifacts.md §1).
"""

import base64
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from infra_service.config import Settings
from infra_service.jobs import Job
from infra_service.oci import MANIFEST_MEDIA_TYPE, RegistryAuth, RegistryClient, RegistryError
from infra_service.storage import ObjectStore, parse_s3_path

CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
WASM_LAYER_MEDIA_TYPE = "application/vnd.wasm.content.layer.v1+wasm"
LOCKED_APP_MEDIA_TYPE = "application/vnd.fermyon.spin.application.v1+config"
LOCKED_APP_DIGEST_LABEL = "com.fermyon.spin.lockedAppDigest"


def compact(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def locked_app(
    *, app_name: str, version: str, wasm_digest: str, variables: list[str] | None = None
) -> dict[str, Any]:
    """The spin.lock of a one-component HTTP app serving every path.

    Each of `variables` is declared required at the app level and mapped to the component's
    config key of the same name, so `spin_sdk.variables.get(name)` reads what the SpinApp sets.
    The component may use the `default` key-value store (users upload only app.py, so there
    is no spin.toml of theirs to grant it; Spin refuses stores a component is not granted).
    """
    names = sorted(set(variables or []))
    component: dict[str, Any] = {
        "id": app_name,
        "metadata": {"key_value_stores": ["default"]},
        "source": {"content_type": "application/wasm", "digest": wasm_digest},
    }
    if names:
        component["config"] = {name: "{{ " + name + " }}" for name in names}
    document: dict[str, Any] = {
        "spin_lock_version": 0,
        "metadata": {
            "name": app_name,
            "version": version,
            "trigger": {"type": "http"},
            "triggers": {},
        },
        "triggers": [
            {
                "id": f"{app_name}-http-trigger",
                "trigger_type": "http",
                "trigger_config": {"component": app_name, "route": "/..."},
            }
        ],
        "components": [component],
    }
    if names:
        document["variables"] = {name: {} for name in names}
    return document


def image_config(*, locked_app_digest: str) -> dict[str, Any]:
    return {
        "architecture": "wasm",
        "os": "wasip1",
        "config": {"Labels": {LOCKED_APP_DIGEST_LABEL: locked_app_digest}},
        "rootfs": {"type": "layers", "diff_ids": []},
    }


def image_manifest(
    *,
    config: tuple[str, int],
    wasm: tuple[str, int],
    locked: tuple[str, int],
    title: str,
    version: str,
) -> dict[str, Any]:
    def descriptor(media_type: str, blob: tuple[str, int]) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": blob[0], "size": blob[1]}

    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": descriptor(CONFIG_MEDIA_TYPE, config),
        "layers": [
            descriptor(WASM_LAYER_MEDIA_TYPE, wasm),
            descriptor(LOCKED_APP_MEDIA_TYPE, locked),
        ],
        "annotations": {
            "org.opencontainers.image.title": title,
            "org.opencontainers.image.version": version,
            "org.opencontainers.image.created": created,
        },
    }


CredentialSource = Callable[[], Awaitable[tuple[str, str] | None]]
# Makes sure a repository exists before a push (ECR needs one per path; others make it).
RepositoryMaker = Callable[[str], Awaitable[None]]


class Pusher:
    def __init__(
        self,
        *,
        settings: Settings,
        objects: ObjectStore,
        http: httpx.AsyncClient,
        credentials: CredentialSource,
        make_repository: RepositoryMaker | None = None,
    ) -> None:
        self._settings = settings
        self._objects = objects
        self._http = http
        self._credentials = credentials
        self._make_repository = make_repository

    def check(self, request: dict[str, Any]) -> None:
        parse_s3_path(request["wasm_path"], bucket=self._settings.s3_bucket, field="wasm_path")

    async def run(self, job: Job) -> dict[str, Any]:
        """Push the component and its locked app; the result's image_url carries the digest."""
        request = job.request
        wasm = parse_s3_path(request["wasm_path"], bucket=self._settings.s3_bucket, field="wasm")
        repository, tag, app_name = request["repository"], request["tag"], request["app_name"]
        started = time.monotonic()
        if self._make_repository is not None:
            await self._make_repository(repository)
        registry = RegistryClient(
            http=self._http,
            base_url=self._settings.registry_base_url,
            auth=RegistryAuth(await self._credentials()),
            chunk_bytes=self._settings.push_chunk_bytes,
        )
        stored = await self._objects.metadata(wasm)
        if stored is None:
            raise RegistryError(f"No component at {wasm.url}; build it first.", code="NOT_FOUND")
        known = stored.get("sha256")
        if known and await registry.blob_exists(repository, f"sha256:{known}"):
            wasm_blob = (f"sha256:{known}", int(stored["size"]))
        else:
            wasm_blob = await registry.push_stream(repository, self._objects.stream(wasm))
        locked_bytes = compact(
            locked_app(
                app_name=app_name,
                version=tag,
                wasm_digest=wasm_blob[0],
                variables=request.get("variables"),
            )
        )
        locked_blob = (await registry.push_bytes(repository, locked_bytes), len(locked_bytes))
        config_bytes = compact(image_config(locked_app_digest=locked_blob[0]))
        config_blob = (await registry.push_bytes(repository, config_bytes), len(config_bytes))
        manifest = compact(
            image_manifest(
                config=config_blob, wasm=wasm_blob, locked=locked_blob, title=app_name, version=tag
            )
        )
        digest = await registry.put_manifest(repository, tag, manifest)
        image = f"{self._settings.registry_url}/{repository}"
        return {
            "image_url": f"{image}@{digest}",
            "tag_url": f"{image}:{tag}",
            "digest": digest,
            "wasm_digest": wasm_blob[0],
            "locked_app_digest": locked_blob[0],
            "seconds": round(time.monotonic() - started, 3),
        }


def ecr_credentials(*, ecr_client: Any) -> CredentialSource:
    """Credentials from ECR's GetAuthorizationToken (user AWS), cached until near expiry."""
    cache: dict[str, Any] = {}

    async def fetch() -> tuple[str, str] | None:
        if cache and cache["expires"] - time.time() > 300:
            cached: tuple[str, str] = cache["credentials"]
            return cached
        try:
            answer = await ecr_client.get_authorization_token()
        except Exception as exc:  # botocore errors: translated, never shown raw
            raise RegistryError(
                "ECR GetAuthorizationToken failed; check the service's IAM permissions.",
                code="REGISTRY_AUTH_FAILED",
            ) from exc
        data = answer["authorizationData"][0]
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        expires = data.get("expiresAt")
        cache["credentials"] = (user, password)
        cache["expires"] = expires.timestamp() if expires else time.time() + 3600
        return user, password

    return fetch


def ecr_repository_maker(*, ecr_client: Any, keep_images: int = 50) -> RepositoryMaker:
    """Create an ECR repository on its first push (a workspace's `base/<short id>/<app>`).

    Scan on push, AES-256 at rest and a lifecycle rule keeping the newest `keep_images`, as the
    CloudFormation template sets on the base repository. Known names are remembered, so a
    repository costs one API call per process; one that exists already is fine.
    """
    known: set[str] = set()
    lifecycle = json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"Keep the {keep_images} most recent images",
                    "selection": {
                        "tagStatus": "any",
                        "countType": "imageCountMoreThan",
                        "countNumber": keep_images,
                    },
                    "action": {"type": "expire"},
                }
            ]
        }
    )

    async def make(repository: str) -> None:
        if repository in known:
            return
        try:
            await ecr_client.create_repository(
                repositoryName=repository,
                imageTagMutability="MUTABLE",
                imageScanningConfiguration={"scanOnPush": True},
                encryptionConfiguration={"encryptionType": "AES256"},
            )
            await ecr_client.put_lifecycle_policy(
                repositoryName=repository, lifecyclePolicyText=lifecycle
            )
        except Exception as exc:  # botocore errors: translated, never shown raw
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code != "RepositoryAlreadyExistsException":
                raise RegistryError(
                    f"ECR could not create repository {repository}; check the service's IAM "
                    "permissions (ecr:CreateRepository, ecr:PutLifecyclePolicy).",
                    code="REGISTRY_AUTH_FAILED",
                ) from exc
        known.add(repository)

    return make


def static_credentials(settings: Settings) -> CredentialSource:
    """Basic credentials from the settings, or anonymous."""
    password = settings.registry_password.get_secret_value() if settings.registry_password else ""
    credentials = (settings.registry_username, password) if settings.registry_username else None

    async def fetch() -> tuple[str, str] | None:
        return credentials

    return fetch
