"""`faas login`, `faas logout`, `faas config show`: where the backend is and who you are."""

import sys
from typing import Annotated

import typer

from faas_cli import config
from faas_cli.client import ApiClient
from faas_cli.commands.common import OutputOption
from faas_cli.errors import usage_error
from faas_cli.output import OutputMode
from faas_cli.session import Session

config_app = typer.Typer(help="Show the configuration.", no_args_is_help=True)


def _secret(value: str | None, what: str) -> str | None:
    """A secret from the option; `-` reads it from stdin (so it stays out of shell history)."""
    if value == "-":
        value = sys.stdin.readline().strip()
        if not value:
            raise usage_error("EMPTY_SECRET", f"no {what} on stdin")
    return value


def login(
    url: Annotated[str | None, typer.Option(help="The backend's base URL.")] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="An API key (`-`: read it from stdin).")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="An OIDC access token (`-`: from stdin).")
    ] = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """Check the backend and your credentials, then store them in the config file (0600)."""
    with Session(output) as session:
        if api_key and token:
            raise usage_error("CONFLICTING_OPTIONS", "Give --api-key or --token, not both")
        api_key, token = _secret(api_key, "API key"), _secret(token, "token")
        stored = session.stored
        target = (url or stored.url or config.DEFAULT_URL).rstrip("/")
        same_server = target == (stored.url or config.DEFAULT_URL).rstrip("/")
        if not same_server or api_key or token:
            stored.api_key, stored.token = api_key, token  # the old credential was for elsewhere
        if not same_server:
            stored.workspace_id = stored.workspace_name = None
        env_credential = (
            session.settings.credential if session.settings.credential_source == "env" else None
        )
        probe = ApiClient(
            base_url=target,
            credential=api_key or token or env_credential or stored.api_key or stored.token,
        )
        try:
            probe.get("/health")
            workspaces = list(probe.items("/api/workspaces"))  # proves the credential
        finally:
            probe.close()
        stored.url = target
        if stored.workspace_id not in {w["id"] for w in workspaces}:
            stored.workspace_id = stored.workspace_name = None
        if len(workspaces) == 1:  # e.g. an API key: it acts in one workspace
            stored.workspace_id, stored.workspace_name = workspaces[0]["id"], workspaces[0]["name"]
        path = config.save(stored)
        session.out.data(
            {
                "url": target,
                "workspaces": len(workspaces),
                "workspace": stored.workspace_id,
                "config_file": str(path),
            }
        )
        session.out.say(f"Logged in to {target} ({len(workspaces)} workspaces you may use)")
        if stored.workspace_name:
            session.out.say(f"Current workspace: {stored.workspace_name} ({stored.workspace_id})")
        session.out.note(f"saved to {path}")


def logout(output: OutputOption = OutputMode.text) -> None:
    """Forget the stored credential (the URL and workspace stay)."""
    with Session(output) as session:
        session.stored.api_key = session.stored.token = None
        path = config.save(session.stored)
        session.out.data({"logged_out": True, "config_file": str(path)})
        session.out.say(f"Forgot the stored credential ({path})")


@config_app.command("show")
def show(output: OutputOption = OutputMode.text) -> None:
    """The settings in force and where each comes from; secrets are masked."""
    with Session(output) as session:
        settings, stored = session.settings, session.stored
        from_file = settings.workspace_source == "file"
        shown = {
            "config_file": str(config.config_path()),
            "url": settings.url,
            "url_source": settings.url_source,
            "credential": config.mask(settings.credential),
            "credential_kind": settings.credential_kind,
            "credential_source": settings.credential_source,
            "workspace": settings.workspace,
            "workspace_name": stored.workspace_name if from_file else None,
            "workspace_source": settings.workspace_source,
        }
        session.out.data(shown)
        credential = (
            f"{settings.credential_kind} {shown['credential']} ({settings.credential_source})"
            if settings.credential
            else "none"
        )
        workspace = settings.workspace
        if workspace and shown["workspace_name"]:
            workspace = f"{shown['workspace_name']} ({workspace})"
        session.out.fields(
            [
                ("config file", shown["config_file"]),
                ("url", f"{settings.url} ({settings.url_source})"),
                ("credential", credential),
                ("workspace", f"{workspace} ({settings.workspace_source})" if workspace else None),
            ]
        )
