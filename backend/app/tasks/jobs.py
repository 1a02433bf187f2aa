"""What each stage asks the infrastructure service for: the job request of a task's stage.

Requests are the contract's models (contract.jobs) and name every target path explicitly
(built in app.storage.keys), with the task id for the service's logs. Where a workspace's
images and apps go is the workspace's own: its repository prefix and its namespace, whatever
the task's options say (app.tasks.references refused any other when the task was created).
"""

from dataclasses import dataclass

from app.config import Settings
from app.storage import keys
from app.tasks.models import Task
from contract.jobs import (
    BuildRequest,
    DeployRequest,
    JobRequest,
    PushRequest,
    ScaffoldRequest,
    StageName,
)


class MissingInput(Exception):
    """The stage cannot be asked for: an input an earlier stage should have produced is absent."""


@dataclass(frozen=True)
class JobDefaults:
    """What the settings fill in when the task's options leave it open."""

    bucket: str
    repository: str  # the base: a workspace pushes under `{repository}/{short id}/`
    namespace_prefix: str

    @classmethod
    def of(cls, settings: Settings) -> "JobDefaults":
        return cls(
            bucket=settings.s3_bucket,
            repository=settings.ecr_repository,
            namespace_prefix=settings.deploy_namespace_prefix,
        )


def job_key(task: Task, stage: StageName) -> str:
    """The idempotency key of a stage's job: resubmitting it never makes a second job."""
    return f"{task.task_id}:{stage}"


def job_request(task: Task, stage: StageName, defaults: JobDefaults) -> JobRequest:
    """The request that submits `stage` of `task` (raises pydantic's ValidationError, or
    MissingInput, when it cannot be made)."""
    options, common = task.options, {"job_key": job_key(task, stage), "task_id": task.task_id}
    uri = keys.s3_uri
    if stage == "build":
        return BuildRequest(
            **common,
            workspace_id=task.workspace_id,
            app_name=task.app_name,
            source=_needed(task.source_code_path, "source_code_path"),
            artifact=uri(defaults.bucket, keys.artifact_object(task.task_id, task.app_name)),
            log_path=uri(defaults.bucket, keys.build_log_object(task.task_id)),
        )
    if stage == "push":
        return PushRequest(
            **common,
            wasm_path=_needed(task.wasm_path, "wasm_path"),
            app_name=task.app_name,
            repository=options.repository
            or keys.workspace_repository(task.workspace_id, defaults.repository, task.app_name),
            tag=options.tag or task.task_id,
            # Declared in the locked app, so that the SpinApp's values reach the code.
            variables=sorted(options.variables),
        )
    if stage == "scaffold":
        return ScaffoldRequest(
            **common,
            image_url=_needed(task.image_url, "image_url"),
            app_name=task.app_name,
            replicas=options.replicas if options.replicas is not None else 2,
            executor=options.executor or "containerd-shim-spin",
            resources=options.resources,
            variables=options.variables,
            image_pull_secrets=options.image_pull_secrets,
            autoscaling=options.autoscaling,
            manifest_path=uri(defaults.bucket, keys.manifest_object(task.task_id, task.app_name)),
            workspace_id=task.workspace_id,
            function_id=task.function_id,
        )
    return DeployRequest(
        **common,
        # Never the options' namespace: a task stored before namespaces were per workspace
        # may hold another one.
        namespace=keys.workspace_namespace(task.workspace_id, defaults.namespace_prefix),
        manifest=_needed(task.manifest, "manifest"),
        workspace_id=task.workspace_id,
        function_id=task.function_id,
    )


def _needed(value: str | None, name: str) -> str:
    if not value:
        raise MissingInput(f"the task has no {name} to start this stage from")
    return value
