"""`faas workspace create|list|use|delete`."""

from typing import Annotated, Any

import typer

from faas_cli.commands.common import OutputOption, YesOption, confirm
from faas_cli.output import OutputMode
from faas_cli.session import Session

app = typer.Typer(help="Create, list, choose and delete workspaces.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Workspace name or id.", show_default=False)]


def _use(session: Session, workspace: dict[str, Any]) -> None:
    session.stored.workspace_id = workspace["id"]
    session.stored.workspace_name = workspace["name"]
    session.save()


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name for the workspace.")],
    description: Annotated[str, typer.Option(help="What it is for.")] = "",
    use: Annotated[
        bool, typer.Option("--use", help="Make it the current workspace (the default for a first).")
    ] = False,
    output: OutputOption = OutputMode.text,
) -> None:
    """Create a workspace; you become its owner."""
    with Session(output) as session:
        workspace = session.api.post(
            "/api/workspaces", json={"name": name, "description": description}
        )
        if use or not session.stored.workspace_id:
            _use(session, workspace)
        session.out.data(workspace)
        session.out.say(f"Created workspace {workspace['name']} ({workspace['id']})")
        if session.stored.workspace_id == workspace["id"]:
            session.out.say("It is now the current workspace.")


@app.command("list")
def list_(output: OutputOption = OutputMode.text) -> None:
    """The workspaces you may use (* marks the current one)."""
    with Session(output) as session:
        items = list(session.api.items("/api/workspaces"))
        session.out.data(items)
        current = session.settings.workspace
        session.out.table(
            ["", "NAME", "ID", "OWNER", "CREATED"],
            (
                [
                    "*" if current in (w["id"], w["name"]) else "",
                    w["name"],
                    w["id"],
                    w.get("owner"),
                    w.get("created_at"),
                ]
                for w in items
            ),
        )
        if not items:
            session.out.note("no workspaces yet: `faas workspace create NAME`")


@app.command("use")
def use(name: NameArg, output: OutputOption = OutputMode.text) -> None:
    """Make a workspace the current one (stored in the config file)."""
    with Session(output) as session:
        workspace = session.find_workspace(name)
        _use(session, workspace)
        session.out.data(workspace)
        session.out.say(f"Current workspace: {workspace['name']} ({workspace['id']})")


@app.command("delete")
def delete(
    name: NameArg,
    cascade: Annotated[
        bool, typer.Option(help="Also delete its functions, tasks and sources.")
    ] = False,
    yes: YesOption = False,
    output: OutputOption = OutputMode.text,
) -> None:
    """Delete a workspace (owners only)."""
    with Session(output) as session:
        workspace = session.find_workspace(name)
        what = " and everything in it" if cascade else ""
        confirm(f"Delete workspace {workspace['name']} ({workspace['id']}){what}?", yes=yes)
        session.api.delete(f"/api/workspaces/{workspace['id']}", cascade=cascade or None)
        if session.stored.workspace_id == workspace["id"]:
            session.stored.workspace_id = session.stored.workspace_name = None
            session.save()
        session.out.data({"deleted": workspace["id"]})
        session.out.say(f"Deleted workspace {workspace['name']} ({workspace['id']})")
