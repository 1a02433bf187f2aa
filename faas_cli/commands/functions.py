"""`faas function create|list|get|delete`."""

from typing import Annotated, Any

import typer

from faas_cli.commands.common import (
    OutputOption,
    WorkspaceOption,
    YesOption,
    confirm,
    parse_variables,
)
from faas_cli.output import Output, OutputMode
from faas_cli.session import Session

app = typer.Typer(help="Create, list, show and delete functions.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Function name (or id).", show_default=False)]
VarOption = Annotated[
    list[str] | None,
    typer.Option("--var", help="A variable NAME=VALUE (repeatable).", show_default=False),
]
ReplicasOption = Annotated[
    int | None, typer.Option(help="Replicas when deployed.", min=0, show_default=False)
]


def show_function(out: Output, function: dict[str, Any]) -> None:
    """A function's record as `name  value` lines."""
    variables = function.get("variables") or {}
    out.fields(
        [
            ("name", function["name"]),
            ("id", function["id"]),
            ("workspace", function["workspace_id"]),
            ("description", function.get("description")),
            ("status", function.get("deployment_status")),
            ("endpoint", function.get("endpoint")),
            ("replicas", function.get("replicas")),
            ("variables", ", ".join(f"{k}={v}" for k, v in variables.items())),
            ("image", function.get("image_url")),
            ("latest task", function.get("latest_task_id")),
            ("updated", function.get("updated_at")),
        ]
    )


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="DNS label, ≤ 52 characters (it names the app).")],
    description: Annotated[str, typer.Option(help="What it does.")] = "",
    var: VarOption = None,
    replicas: ReplicasOption = None,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """Create a function (nothing is built until `faas deploy`)."""
    with Session(output, workspace=workspace) as session:
        body: dict[str, Any] = {"name": name, "description": description}
        body["variables"] = parse_variables(var)
        if replicas is not None:
            body["replicas"] = replicas
        function = session.api.post(f"/api/workspaces/{session.workspace_id}/functions", json=body)
        session.out.data(function)
        session.out.say(f"Created function {function['name']} ({function['id']})")


@app.command("list")
def list_(workspace: WorkspaceOption = None, output: OutputOption = OutputMode.text) -> None:
    """The functions of the workspace."""
    with Session(output, workspace=workspace) as session:
        items = list(session.api.items(f"/api/workspaces/{session.workspace_id}/functions"))
        session.out.data(items)
        session.out.table(
            ["NAME", "ID", "STATUS", "REPLICAS", "ENDPOINT", "UPDATED"],
            (
                [
                    f["name"],
                    f["id"],
                    f.get("deployment_status"),
                    f.get("replicas"),
                    f.get("endpoint"),
                    f.get("updated_at"),
                ]
                for f in items
            ),
        )
        if not items:
            session.out.note("no functions yet: `faas init NAME && faas deploy NAME`")


@app.command("get")
def get(
    name: NameArg, workspace: WorkspaceOption = None, output: OutputOption = OutputMode.text
) -> None:
    """A function's settings and what its pipeline last produced."""
    with Session(output, workspace=workspace) as session:
        function = session.function(name)
        session.out.data(function)
        show_function(session.out, function)


@app.command("delete")
def delete(
    name: NameArg,
    yes: YesOption = False,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """Delete a function."""
    with Session(output, workspace=workspace) as session:
        function = session.function(name)
        confirm(f"Delete function {function['name']} ({function['id']})?", yes=yes)
        session.api.delete(f"/api/functions/{function['id']}")
        session.out.data({"deleted": function["id"]})
        session.out.say(f"Deleted function {function['name']} ({function['id']})")
