"""One step of one task: ask the service about the current stage, decide, and write the outcome.

The poller calls `step` with a task it holds the lease on. A step submits the current stage's job
if it has none (idempotent by `job_key`), otherwise reads the job's status; a finished stage
hands over to the next one at once. Every write goes through TaskStepRepository.save_step, which
checks the lease and the version, and every status change through the state machine.
"""

import logging
import random
import time
from typing import Any

from app.clock import now_iso
from app.config import Settings
from app.storage.functions import FunctionRepository
from app.storage.task_steps import TaskStepRepository
from app.tasks import state
from app.tasks.infra_client import InfraClient, InfraRejected, InfraUnavailable
from contract.jobs import REQUESTS, JobView

log = logging.getLogger(__name__)

# Result fields each stage contributes to the task (SPEC §3 attribute names where they exist).
_RESULT_FIELDS: dict[str, dict[str, str]] = {
    "build": {"wasm_path": "wasm_path", "sha256": "wasm_sha256", "size": "wasm_size"},
    "push": {"image_url": "image_url"},
    "scaffold": {"manifest": "manifest", "manifest_path": "manifest_path"},
    "deploy": {"endpoint": "endpoint"},
}


def now_ms() -> int:
    return int(time.time() * 1000)


class TaskDriver:
    def __init__(
        self,
        *,
        steps: TaskStepRepository,
        functions: FunctionRepository,
        infra: InfraClient,
        settings: Settings,
        owner: str,
    ) -> None:
        self._steps = steps
        self._functions = functions
        self._infra = infra
        self._settings = settings
        self._owner = owner

    # -- inputs of each stage ---------------------------------------------------------------

    def _payload(self, task: dict[str, Any], stage: str) -> dict[str, Any]:
        options = task.get("options") or {}
        payload: dict[str, Any] = {"job_key": f"{task['task_id']}:{stage}"}
        if stage == "build":
            artifact = (
                f"s3://{self._settings.s3_bucket}/build-artifacts/"
                f"{task['task_id']}/{task['app_name']}.wasm"
            )
            payload |= {
                "workspace_id": task["workspace_id"],
                "app_name": task["app_name"],
                "source": task["source_code_path"],
                "artifact": artifact,
            }
        elif stage == "push":
            payload |= {
                "wasm_path": task["wasm_path"],
                "app_name": task["app_name"],
                "repository": options.get("repository") or self._settings.ecr_repository,
                "tag": options.get("tag") or task["task_id"],
                # Declared in the locked app, so that the SpinApp's values reach the code.
                "variables": sorted((options.get("variables") or {}).keys()),
            }
        elif stage == "scaffold":
            payload |= {
                "image_url": task["image_url"],
                "app_name": task["app_name"],
                "replicas": options.get("replicas", 2),
                "executor": options.get("executor", "containerd-shim-spin"),
                "resources": options.get("resources"),
                "variables": options.get("variables") or {},
                "image_pull_secrets": options.get("image_pull_secrets") or [],
                "autoscaling": options.get("autoscaling"),
            }
        else:
            payload |= {
                "namespace": options.get("namespace") or self._settings.deploy_namespace,
                "manifest": task["manifest"],
            }
        return payload

    def _delay_ms(self, polls: int) -> int:
        """Early polls come quickly, then back off to the configured interval (with jitter)."""
        first = self._settings.poll_first_delay_seconds
        interval = self._settings.poll_interval_seconds
        delay = min(interval, first * (2 ** max(polls - 1, 0)))
        return int(delay * 1000 * random.uniform(0.9, 1.1))

    # -- one step ---------------------------------------------------------------------------

    async def step(self, task: dict[str, Any]) -> dict[str, Any] | None:
        """Advance a claimed task by one step and write the outcome; None if the write lost."""
        if task["status"] in state.TERMINAL_STATUSES:
            return await self._steps.save_step(
                task=task, changes={}, owner=self._owner, next_due_ms=None
            )
        stages = [dict(stage) for stage in task["stages"]]
        changes: dict[str, Any] = {}
        events: list[dict[str, Any]] = []
        view = {**task}  # the task as this step sees it, results included
        next_due: int | None = None
        error: tuple[str, str] | None = None

        # A finished stage hands over to the next at once, so one step may cover several.
        for _ in range(len(stages)):
            stage = state.current_stage(stages)
            if stage is None:
                break
            name = stage["name"]
            try:
                job = await self._observe(view, stage, events)
            except InfraUnavailable as exc:
                stage["polls"] = stage.get("polls", 0) + 1
                stage["transient_failures"] = stage.get("transient_failures", 0) + 1
                if stage["transient_failures"] == 1:
                    events.append(_event(name, "warning", f"service unavailable, retrying: {exc}"))
                if stage["polls"] >= self._settings.poll_max_attempts:
                    code = "TIMEOUT" if exc.timed_out else "INFRA_UNAVAILABLE"
                    error = (code, f"The {name} service did not answer within its budget: {exc}")
                else:
                    next_due = now_ms() + self._delay_ms(stage["polls"])
                break
            except InfraRejected as exc:
                error = ("INFRA_REJECTED", str(exc))
                break
            stage["polls"] = stage.get("polls", 0) + 1
            if stage.get("transient_failures"):
                events.append(_event(name, "info", "service reachable again"))
                stage["transient_failures"] = 0
            if job.log_path:
                stage["log_path"] = job.log_path
            if job.status == "succeeded":
                stage["status"], stage["finished_at"] = state.COMPLETED, now_iso()
                result = job.result.model_dump(mode="json") if job.result else {}
                for source, target in _RESULT_FIELDS[name].items():
                    value = result.get(source)
                    if value is not None:
                        changes[target] = view[target] = value
                if name == "deploy":
                    changes["deployment"] = view["deployment"] = result
                if name == "build" and job.log_path:
                    changes["build_log_path"] = job.log_path
                events.append(_event(name, "info", f"{name} succeeded"))
                continue
            if job.status == "failed":
                stage["status"], stage["finished_at"] = state.FAILED, now_iso()
                failure = job.error or None
                code = failure.code if failure else f"{name.upper()}_FAILED"
                message = failure.message if failure else f"The {name} service reported failure"
                if name == "build" and job.log_path:
                    changes["build_log_path"] = job.log_path
                error = (code, message)
                break
            if stage["polls"] >= self._settings.poll_max_attempts:
                error = ("TIMEOUT", f"The {name} stage did not finish within its poll budget")
                break
            next_due = now_ms() + self._delay_ms(stage["polls"])
            break

        current = state.current_stage(stages)
        if error is not None:
            new_status = state.FAILED
            if current is not None and current["status"] != state.FAILED:
                current["status"], current["finished_at"] = state.FAILED, now_iso()
            changes["error_code"], changes["error_message"] = error
            events.append(_event(current["name"] if current else None, "error", error[1]))
            next_due = None
        elif current is None:
            new_status = state.COMPLETED
            next_due = None
            events.append(_event(None, "info", "task completed"))
        else:
            new_status = state.RUNNING
        state.check_transition(task["status"], new_status)
        changes |= {
            "status": new_status,
            "stage": current["name"] if current else stages[-1]["name"],
            "stages": stages,
            "updated_at": now_iso(),
        }
        saved = await self._steps.save_step(
            task=task, changes=changes, owner=self._owner, next_due_ms=next_due, events=events
        )
        if saved is not None and saved.get("function_id"):
            await self._follow(saved, previous=task)
        return saved

    async def _observe(
        self, task: dict[str, Any], stage: dict[str, Any], events: list[dict[str, Any]]
    ) -> JobView[Any]:
        """Submit the stage's job if it has none (or the service forgot it), else read it."""
        name = stage["name"]
        if stage.get("job_id"):
            job = await self._infra.status(stage=name, job_id=stage["job_id"])
            if job is not None:
                return job
            events.append(_event(name, "warning", "the service forgot the job; resubmitted"))
        request = REQUESTS[name].model_validate(self._payload(task, name))
        job = await self._infra.submit(stage=name, request=request)
        if stage.get("job_id") != job.job_id:
            stage["job_id"] = job.job_id
        if stage["status"] == state.PENDING:
            stage["status"], stage["started_at"] = state.RUNNING, now_iso()
            stage["polls"] = 0
            events.append(_event(name, "info", f"{name} started (job {job.job_id})"))
        return job

    async def _follow(self, task: dict[str, Any], *, previous: dict[str, Any]) -> None:
        """Mirror the task's outcome on its function."""
        changes: dict[str, Any] = {"updated_at": task["updated_at"]}
        for field in ("wasm_path", "image_url", "manifest_path", "endpoint"):
            if task.get(field) and task.get(field) != previous.get(field):
                changes[field] = task[field]
        deployment = state.deployment_status_for(task["type"], task["status"], task.get("stage"))
        if deployment:
            changes["deployment_status"] = deployment
        terminal = task["status"] in state.TERMINAL_STATUSES
        if len(changes) == 1 and not terminal and task["status"] == previous["status"]:
            return
        await self._functions.follow_task(
            workspace_id=task["workspace_id"],
            function_id=task["function_id"],
            task_id=task["task_id"],
            changes=changes,
            release=terminal,
        )


def _event(stage: str | None, level: str, message: str) -> dict[str, Any]:
    return {"time": now_iso(), "stage": stage, "level": level, "message": message[:2000]}
