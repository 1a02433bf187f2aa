"""`faas deploy PATH` (the whole pipeline for a function) and `faas build PATH` (build only)."""

from pathlib import Path
from typing import Annotated, Any

import typer

from faas_cli import bundle
from faas_cli.commands.common import OutputOption, WorkspaceOption, parse_variables
from faas_cli.commands.functions import ReplicasOption, VarOption
from faas_cli.errors import CliError, usage_error
from faas_cli.follow import failure, follow, took
from faas_cli.output import OutputMode
from faas_cli.session import FUNCTION_NAME, Session
from faas_cli.upload import upload

PathArg = Annotated[
    Path,
    typer.Argument(help="A folder with an app.py, a .py file or a .zip.", show_default=False),
]
FollowOption = Annotated[
    bool, typer.Option("--follow/--no-follow", help="Follow the task until it ends.")
]


def _name(path: Path, given: str | None) -> str:
    name = given or bundle.default_name(path)
    if not FUNCTION_NAME.match(name) or len(name) > 52:
        raise usage_error(
            "INVALID_NAME",
            f"{name!r} cannot name a function",
            "a name is a DNS label: a-z, 0-9 and '-', at most 52 characters",
            hint="choose one with --function NAME",
        )
    return name


def _function_for_deploy(
    session: Session,
    name: str,
    *,
    create: bool,
    variables: dict[str, str],
    replicas: int | None,
) -> dict[str, Any]:
    """The function to deploy, created or updated so that it has the given settings."""
    function = session.find_function(name, missing_ok=True)
    if function is None:
        if not create:
            raise CliError(
                "FUNCTION_NOT_FOUND",
                f"No function {name!r}",
                f"the workspace {session.workspace_id} has no function of this name",
                hint="drop --no-create to create it",
            )
        body: dict[str, Any] = {"name": name, "variables": variables}
        if replicas is not None:
            body["replicas"] = replicas
        created: dict[str, Any] = session.api.post(
            f"/api/workspaces/{session.workspace_id}/functions", json=body
        )
        session.out.note(f"created function {name} ({created['id']})")
        return created
    changes: dict[str, Any] = {}
    merged = (function.get("variables") or {}) | variables
    if merged != (function.get("variables") or {}):
        changes["variables"] = merged
    if replicas is not None and replicas != function.get("replicas"):
        changes["replicas"] = replicas
    if changes:
        # redeploy=false: the new code is deployed with these settings next, so the server
        # must not first redeploy the live image with them (it would hold the function).
        function = session.api.call(
            "PATCH", f"/api/functions/{function['id']}", json=changes, params={"redeploy": "false"}
        )
        session.out.note(f"updated {', '.join(changes)} of {name}")
    return function


def deploy(
    path: PathArg,
    function: Annotated[
        str | None,
        typer.Option("--function", "-f", help="Function name (default: the folder's name)."),
    ] = None,
    create: Annotated[
        bool, typer.Option("--create/--no-create", help="Create the function if it is missing.")
    ] = True,
    var: VarOption = None,
    replicas: ReplicasOption = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            help="Kubernetes namespace: only the workspace's own (faas-<workspace id>) is "
            "accepted, which is also the default."
        ),
    ] = None,
    follow_task: FollowOption = True,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """Upload, build, push, scaffold and deploy a function; print its endpoint."""
    with Session(output, workspace=workspace) as session:
        name = _name(path, function)
        variables = parse_variables(var)
        with bundle.prepare(path) as source:
            record = _function_for_deploy(
                session, name, create=create, variables=variables, replicas=replicas
            )
            for skipped in source.skipped:
                session.out.note(f"left out {skipped} (a symbolic link)")
            task = upload(
                session.api,
                session.out,
                f"/api/functions/{record['id']}/deploy",
                source,
                data={"namespace": namespace} if namespace else None,
            )
        if not follow_task:
            session.out.data({"function": record, "task": task})
            session.out.say(f"Task {task['task_id']} ({task['type']}) is {task['status']}")
            session.out.say(f"Follow it with: faas task watch {task['task_id']}")
            return
        session.out.say(f"Deploying {name}: task {task['task_id']}")
        task = follow(session.api, session.out, task)
        record = session.api.get(f"/api/functions/{record['id']}")
        endpoint = (task.get("result") or {}).get("endpoint") or record.get("endpoint")
        invoke_url = session.api.url(f"/api/functions/{record['id']}/invoke/")
        session.out.data(
            {"function": record, "task": task, "endpoint": endpoint, "invoke_url": invoke_url}
        )
        if task["status"] == "failed":
            raise failure(task)
        session.out.note(f"deployed{took(task)}")
        session.out.say(f"Deployed {name}: {endpoint or '(no endpoint reported)'}")
        session.out.say(f"Through the API: {invoke_url}   (or: faas invoke {name})")


def build(
    path: PathArg,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="App name (default: the folder's name).")
    ] = None,
    function: Annotated[
        str | None, typer.Option("--function", "-f", help="Attach the build to this function.")
    ] = None,
    follow_task: FollowOption = True,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """Build only: upload the source and compile it to a WebAssembly component."""
    with Session(output, workspace=workspace) as session:
        record = session.function(function) if function else None
        app_name = record["name"] if record else _name(path, name)
        fields = {"workspace_id": session.workspace_id, "app_name": app_name}
        if record:
            fields["function_id"] = record["id"]
        with bundle.prepare(path) as source:
            task = upload(session.api, session.out, "/api/v1/build", source, data=fields)
        if follow_task:
            session.out.say(f"Building {app_name}: task {task['task_id']}")
            task = follow(session.api, session.out, task)
        session.out.data(task)
        if task["status"] == "failed":
            raise failure(task)
        if task["status"] == "completed":
            session.out.say(f"Built {app_name}: {task['result'].get('wasm_path')}")
        else:
            session.out.say(f"Task {task['task_id']} is {task['status']}")
