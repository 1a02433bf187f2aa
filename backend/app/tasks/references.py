"""Every reference a task-creating request carries resolves inside the caller's workspace.

A request may name things by value instead of by one of its own tasks: a namespace, a push
repository, a `wasm_path`, an `image_url`, a manifest. Each is checked here, before anything is
written (no S3 object, no task), against the workspace's own names (app.storage.keys):

- namespace: only the workspace's own (`{DEPLOY_NAMESPACE_PREFIX}{short id}`) — 422;
- repository: only under the workspace's (`{ECR_REPOSITORY}/{short id}/`) — 422;
- wasm_path: the build artifact of one of the workspace's tasks — 404 otherwise, as for a
  foreign task id;
- image_url (and a manifest's `spec.image`): in our registry, only under the workspace's
  repository prefix (the only place its pushes go, and nobody else's do) — 404; another
  registry only when ALLOWED_IMAGE_REGISTRIES names it — 422;
- manifest: only the kinds the scaffold writes (a SpinApp named after the app, at most its
  HorizontalPodAutoscaler scaling it), in the workspace's namespace or none — 422.
"""

from typing import Any

import yaml

from app.config import Settings
from app.errors import InvalidInput, NotFound, Unprocessable
from app.storage import keys
from app.tasks.models import Task, TaskOptions

SPINAPP = ("core.spinkube.dev/v1alpha1", "SpinApp")
HPA = ("autoscaling/v2", "HorizontalPodAutoscaler")


def check_options(*, workspace_id: str, options: TaskOptions, settings: Settings) -> None:
    """The namespace and repository a request asks for are the workspace's own."""
    own = keys.workspace_namespace(workspace_id, settings.deploy_namespace_prefix)
    if options.namespace is not None and options.namespace != own:
        raise Unprocessable(
            f"namespace must be the workspace's own ({own!r}) or left out",
            code="NAMESPACE_NOT_ALLOWED",
        )
    prefix = keys.workspace_repository_prefix(workspace_id, settings.ecr_repository)
    if options.repository is not None and not options.repository.startswith(prefix):
        raise Unprocessable(
            f"repository must lie under the workspace's own ({prefix}…) or be left out",
            code="REPOSITORY_NOT_ALLOWED",
        )


def artifact_task_id(*, value: str, bucket: str) -> str:
    """The task whose build output `value` names (400 for a path that is no build output)."""
    task_id = keys.artifact_task_id(bucket, value)
    if task_id is None:
        prefix = keys.s3_uri(bucket, keys.ARTIFACTS_PREFIX)
        raise InvalidInput(
            f"wasm_path must be a build artifact under {prefix}", code="INVALID_INPUT"
        )
    return task_id


def check_artifact(*, value: str, bucket: str, task: Task | None, workspace_id: str) -> None:
    """`value` is exactly the artifact path of `task`, a task of the caller's workspace."""
    own = (
        task is not None
        and task.workspace_id == workspace_id
        and value == keys.s3_uri(bucket, keys.artifact_object(task.task_id, task.app_name))
    )
    if not own:
        raise NotFound(
            "wasm_path names no build artifact of this workspace", code="ARTIFACT_NOT_FOUND"
        )


def check_image(*, image: str, workspace_id: str, settings: Settings) -> None:
    """An image of our registry pushed by this workspace, or one of an allowed registry."""
    registry, _, path = image.partition("/")
    if not path or not _is_registry_host(registry):
        registry, path = "docker.io", image  # `name:tag` or `user/name`: Docker Hub's
    prefix = keys.workspace_repository_prefix(workspace_id, settings.ecr_repository)
    if registry == settings.ecr_registry_url.rstrip("/"):
        if not path.startswith(prefix) or ".." in path:
            raise NotFound("image_url names no image this workspace pushed", code="IMAGE_NOT_FOUND")
        return
    if registry not in settings.allowed_image_registries:
        raise Unprocessable(
            f"images from {registry} are not allowed: use an image pushed by this workspace "
            f"({settings.ecr_registry_url}/{prefix}…)",
            code="IMAGE_REGISTRY_NOT_ALLOWED",
        )


def check_manifest(*, manifest: str, workspace_id: str, app_name: str, settings: Settings) -> None:
    """Only the scaffold's kinds, for this app, in the workspace's namespace (or none)."""
    namespace = keys.workspace_namespace(workspace_id, settings.deploy_namespace_prefix)
    try:
        documents = [doc for doc in yaml.safe_load_all(manifest) if doc is not None]
    except yaml.YAMLError as exc:
        raise Unprocessable(f"manifest is not valid YAML: {exc}", code="INVALID_MANIFEST") from exc
    apps = 0
    for doc in documents:
        kind = _kind(doc)
        metadata = doc.get("metadata") if isinstance(doc, dict) else None
        if kind in (SPINAPP, HPA) and not isinstance(metadata, dict):
            raise Unprocessable(
                f"manifest: a {kind[1]} has no metadata.name", code="INVALID_MANIFEST"
            )
        if kind not in (SPINAPP, HPA) or not isinstance(metadata, dict):
            raise Unprocessable(
                f"manifest may hold a SpinApp ({SPINAPP[0]}) and its HorizontalPodAutoscaler "
                f"({HPA[0]}) only, not {kind[1]!r}",
                code="MANIFEST_KIND_NOT_ALLOWED",
            )
        if metadata.get("namespace", namespace) != namespace:
            raise Unprocessable(
                f"manifest: a {kind[1]} names namespace {metadata.get('namespace')!r}; "
                f"this workspace deploys to {namespace!r} (or leave it out)",
                code="NAMESPACE_NOT_ALLOWED",
            )
        spec = _mapping(doc.get("spec"))
        if kind == SPINAPP:
            apps += 1
            if metadata.get("name") != app_name:
                raise Unprocessable(
                    f"manifest: the SpinApp must be named {app_name!r}", code="INVALID_MANIFEST"
                )
            if isinstance(spec.get("image"), str):
                check_image(image=spec["image"], workspace_id=workspace_id, settings=settings)
        else:
            if _mapping(spec.get("scaleTargetRef")).get("name") != app_name:
                raise Unprocessable(
                    f"manifest: the HorizontalPodAutoscaler may scale {app_name!r} only",
                    code="INVALID_MANIFEST",
                )
    if apps != 1:
        raise Unprocessable(
            f"manifest must hold exactly one SpinApp, found {apps}", code="INVALID_MANIFEST"
        )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _kind(doc: Any) -> tuple[str, str]:
    if not isinstance(doc, dict):
        return ("", type(doc).__name__)
    return (str(doc.get("apiVersion", "")), str(doc.get("kind", "")))


def _is_registry_host(part: str) -> bool:
    """Docker's rule: the first path part is a registry when it has a dot or port, or is
    `localhost`."""
    return "." in part or ":" in part or part == "localhost"
