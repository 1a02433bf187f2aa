"""`faas api-key create|list|revoke`: keys for CI-style access to one workspace."""

from typing import Annotated

import typer

from faas_cli.commands.common import OutputOption, WorkspaceOption, YesOption, confirm
from faas_cli.output import OutputMode
from faas_cli.session import Session

app = typer.Typer(help="Create, list and revoke a workspace's API keys.", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. github-actions.")],
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """Create a key (owners only); it is shown this once."""
    with Session(output, workspace=workspace) as session:
        key = session.api.post(
            f"/api/workspaces/{session.workspace_id}/api-keys", json={"name": name}
        )
        session.out.data(key)
        session.out.note(f"API key {key['name']} ({key['id']}), shown this once:")
        session.out.say(key["key"])
        session.out.note("use it with: faas login --api-key -   (or FAAS_API_KEY)")


@app.command("list")
def list_(workspace: WorkspaceOption = None, output: OutputOption = OutputMode.text) -> None:
    """The workspace's keys (never their secrets)."""
    with Session(output, workspace=workspace) as session:
        answer = session.api.get(f"/api/workspaces/{session.workspace_id}/api-keys")
        items = answer.get("items", [])
        session.out.data(items)
        session.out.table(
            ["ID", "NAME", "CREATED", "BY"],
            ([k["id"], k["name"], k.get("created_at"), k.get("created_by")] for k in items),
        )
        if not items:
            session.out.note("no API keys")


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `faas api-key list`).")],
    yes: YesOption = False,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """Revoke a key: it is refused from now on (owners only)."""
    with Session(output, workspace=workspace) as session:
        confirm(f"Revoke API key {key_id}?", yes=yes)
        session.api.delete(f"/api/workspaces/{session.workspace_id}/api-keys/{key_id}")
        session.out.data({"revoked": key_id})
        session.out.say(f"Revoked API key {key_id}")
