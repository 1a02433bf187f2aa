"""`faas tasks` (a workspace's tasks) and `faas task get|watch ID`."""

from enum import StrEnum
from typing import Annotated, Any

import typer

from faas_cli.commands.common import OutputOption, WorkspaceOption
from faas_cli.follow import failure, follow, stage_line
from faas_cli.output import Output, OutputMode
from faas_cli.session import Session

app = typer.Typer(help="Show or follow one task.", no_args_is_help=True)

TaskArg = Annotated[str, typer.Argument(help="The task's id.", show_default=False)]


class Status(StrEnum):
    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"


def show_task(out: Output, task: dict[str, Any]) -> None:
    """A task as `name  value` lines, then its stages and, when it failed, why."""
    result = task.get("result") or {}
    out.fields(
        [
            ("task", task["task_id"]),
            ("type", task.get("type")),
            ("app", task.get("app_name")),
            ("function", task.get("function_id")),
            ("status", task["status"]),
            ("stage", task.get("stage")),
            ("wasm", result.get("wasm_path")),
            ("image", result.get("image_url")),
            ("endpoint", result.get("endpoint")),
            ("error", task.get("error_code")),
            ("created", task.get("created_at")),
            ("updated", task.get("updated_at")),
        ]
    )
    for stage in task.get("stages") or []:
        out.say(stage_line(stage))
    for line in (task.get("error_message") or "").splitlines():
        out.say(f"  {line}")


def tasks(
    status: Annotated[Status | None, typer.Option(help="Only tasks in this status.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest first).", min=1)] = 20,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """The workspace's tasks, newest first."""
    with Session(output, workspace=workspace) as session:
        items: list[dict[str, Any]] = []
        path = f"/api/workspaces/{session.workspace_id}/tasks"
        for task in session.api.items(path, status=status.value if status else None):
            items.append(task)
            if len(items) >= limit:
                break
        session.out.data(items)
        session.out.table(
            ["TASK", "TYPE", "APP", "STATUS", "STAGE", "ERROR", "CREATED"],
            (
                [
                    t["task_id"],
                    t.get("type"),
                    t.get("app_name"),
                    t["status"],
                    t.get("stage"),
                    t.get("error_code"),
                    t.get("created_at"),
                ]
                for t in items
            ),
        )
        if not items:
            session.out.note("no tasks")


@app.command("get")
def get(task_id: TaskArg, output: OutputOption = OutputMode.text) -> None:
    """A task's status, stages and result (exits 1 if it failed)."""
    with Session(output) as session:
        task = session.api.get(f"/api/v1/tasks/{task_id}")
        session.out.data(task)
        show_task(session.out, task)
        if task["status"] == "failed":
            raise typer.Exit(1)


@app.command("watch")
def watch(
    task_id: TaskArg,
    output: OutputOption = OutputMode.text,
    logs: Annotated[
        bool, typer.Option("--logs", help="Print the build log as it streams (on stderr).")
    ] = False,
) -> None:
    """Follow a task until it ends; exit 0 if it completed, 1 if it failed."""
    with Session(output) as session:
        task = session.api.get(f"/api/v1/tasks/{task_id}")
        session.out.say(f"Task {task['task_id']} ({task.get('type')}, {task.get('app_name')})")

        def build_line(entry: dict[str, Any]) -> None:
            if entry.get("source") == "build":
                session.out.note(f"  │ {entry.get('message', '')}")

        task = follow(session.api, session.out, task, on_log=build_line if logs else None)
        session.out.data(task)
        if task["status"] == "failed":
            raise failure(task)
        endpoint = (task.get("result") or {}).get("endpoint")
        session.out.say(f"Completed{': ' + endpoint if endpoint else ''}")
