"""`faas revisions NAME`, `faas rollback NAME [REVISION]`, `faas scale NAME N`."""

from typing import Annotated, Any

import typer

from faas_cli.commands.common import OutputOption, WorkspaceOption
from faas_cli.follow import failure, follow
from faas_cli.output import OutputMode
from faas_cli.session import Session

NameArg = Annotated[str, typer.Argument(help="Function name (or id).", show_default=False)]
# Columns shown when the revisions carry them, in this order; the JSON output has everything.
_COLUMNS = [
    ("revision", "REVISION"),
    ("number", "REVISION"),
    ("live", "LIVE"),
    ("reason", "REASON"),
    ("active", "ACTIVE"),
    ("current", "CURRENT"),
    ("status", "STATUS"),
    ("created_at", "CREATED"),
    ("task_id", "TASK"),
    ("image_url", "IMAGE"),
    ("source_sha256", "SOURCE SHA256"),
]


def _items(answer: Any) -> list[dict[str, Any]]:
    if isinstance(answer, dict):
        answer = answer.get("items", [])
    return [item for item in answer or [] if isinstance(item, dict)]


def revisions(
    name: NameArg,
    revision: Annotated[int | None, typer.Argument(help="Show this revision only.")] = None,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """A function's revisions (what each deploy produced), newest first."""
    with Session(output, workspace=workspace) as session:
        function = session.function(name)
        path = f"/api/functions/{function['id']}/revisions"
        if revision is not None:
            one = session.api.get(f"{path}/{revision}")
            session.out.data(one)
            session.out.fields(list(one.items()) if isinstance(one, dict) else [])
            return
        items = _items(session.api.get(path))
        session.out.data(items)
        columns = [(key, title) for key, title in _COLUMNS if any(key in i for i in items)]
        session.out.table(
            [title for _, title in columns],
            ([item.get(key) for key, _ in columns] for item in items),
        )
        if not items:
            session.out.note("no revisions yet: `faas deploy` makes one")


def _finish(session: Session, answer: dict[str, Any], *, follow_task: bool, what: str) -> None:
    """Follow the task an answer carries (if any) and report how it ended."""
    if "task_id" not in answer or not follow_task:
        session.out.data(answer)
        if "task_id" in answer:
            session.out.say(f"{what}: task {answer['task_id']} is {answer.get('status')}")
        return
    session.out.say(f"{what}: task {answer['task_id']}")
    task = follow(session.api, session.out, answer)
    session.out.data(task)
    if task["status"] == "failed":
        raise failure(task)
    endpoint = (task.get("result") or {}).get("endpoint")
    session.out.say(f"Done{': ' + endpoint if endpoint else ''}")


def rollback(
    name: NameArg,
    revision: Annotated[
        int | None, typer.Argument(help="The revision to return to (default: the previous).")
    ] = None,
    follow_task: Annotated[bool, typer.Option("--follow/--no-follow")] = True,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """Deploy an earlier revision again."""
    with Session(output, workspace=workspace) as session:
        function = session.function(name)
        body = {} if revision is None else {"revision": revision}
        answer = session.api.post(f"/api/functions/{function['id']}/rollback", json=body)
        target = f"revision {revision}" if revision is not None else "the previous revision"
        _finish(session, answer, follow_task=follow_task, what=f"Rolling {name} back to {target}")


def scale(
    name: NameArg,
    replicas: Annotated[int, typer.Argument(help="Replicas (0 stops it).", min=0)],
    follow_task: Annotated[bool, typer.Option("--follow/--no-follow")] = True,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """Change how many replicas of a deployed function run."""
    with Session(output, workspace=workspace) as session:
        function = session.function(name)
        answer = session.api.post(
            f"/api/functions/{function['id']}/scale", json={"replicas": replicas}
        )
        if isinstance(answer, dict) and "task_id" in answer:
            _finish(session, answer, follow_task=follow_task, what=f"Scaling {name} to {replicas}")
            return
        session.out.data(answer)
        session.out.say(f"Scaled {name} to {replicas} replicas")
