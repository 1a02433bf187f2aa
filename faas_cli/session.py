"""What a command runs with: output, configuration, the API client, and names resolved to ids."""

import re
from functools import cached_property
from types import TracebackType
from typing import Any

import typer

from faas_cli import config
from faas_cli.client import ApiClient
from faas_cli.errors import CliError, ExitCode, usage_error
from faas_cli.output import Output, OutputMode

# Functions are named by DNS-1123 labels (SPEC §2), so a name needs no escaping in a path.
FUNCTION_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class Session:
    """Open for one command; on exit it closes the client and renders any CliError."""

    def __init__(self, mode: OutputMode = OutputMode.text, *, workspace: str | None = None):
        self.out = Output(mode)
        self.workspace_option = workspace
        self._api: ApiClient | None = None

    def __enter__(self) -> "Session":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._api is not None:
            self._api.close()
        if isinstance(exc, CliError):
            self.out.error(exc)
            raise typer.Exit(exc.exit_code) from None
        if isinstance(exc, KeyboardInterrupt):
            self.out.note("interrupted", style="yellow")
            raise typer.Exit(ExitCode.INTERRUPTED) from None

    @cached_property
    def stored(self) -> config.Config:
        return config.load()

    @cached_property
    def settings(self) -> config.Effective:
        return config.effective(self.stored)

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            self._api = ApiClient(base_url=self.settings.url, credential=self.settings.credential)
        return self._api

    def save(self) -> None:
        """Write the stored configuration back (after a command changed it)."""
        config.save(self.stored)

    # --- workspaces -------------------------------------------------------------------

    def find_workspace(self, name_or_id: str) -> dict[str, Any]:
        """The workspace with this id, or the only one with this name."""
        listed = list(self.api.items("/api/workspaces"))
        by_id = [w for w in listed if w["id"] == name_or_id]
        if by_id:
            return by_id[0]
        by_name = [w for w in listed if w["name"] == name_or_id]
        if len(by_name) == 1:
            return by_name[0]
        if by_name:
            ids = ", ".join(w["id"] for w in by_name)
            raise usage_error(
                "WORKSPACE_AMBIGUOUS",
                f"Several workspaces are named {name_or_id!r}",
                f"use one of their ids: {ids}",
            )
        raise CliError(
            "WORKSPACE_NOT_FOUND",
            f"No workspace {name_or_id!r}",
            "none of the workspaces you may use has this name or id",
            hint="`faas workspace list` shows them",
        )

    @cached_property
    def workspace_id(self) -> str:
        """The workspace to act in: --workspace, FAAS_WORKSPACE, the file, or the only one."""
        if self.workspace_option:
            return str(self.find_workspace(self.workspace_option)["id"])
        chosen, source = self.settings.workspace, self.settings.workspace_source
        if chosen and source == "env":
            return str(self.find_workspace(chosen)["id"])
        if chosen:
            return chosen
        listed = list(self.api.items("/api/workspaces"))
        if len(listed) == 1:
            self.out.note(f"using workspace {listed[0]['name']} ({listed[0]['id']})")
            return str(listed[0]["id"])
        raise usage_error(
            "NO_WORKSPACE",
            "No workspace selected",
            f"you may use {len(listed)} workspaces",
            hint="run `faas workspace use NAME`, or pass --workspace NAME",
        )

    # --- functions --------------------------------------------------------------------

    def find_function(self, name_or_id: str, *, missing_ok: bool = False) -> dict[str, Any] | None:
        """The function with this name in the workspace, or with this id."""
        for function in self.api.items(f"/api/workspaces/{self.workspace_id}/functions"):
            if function["name"] == name_or_id:
                return function
        if FUNCTION_NAME.match(name_or_id.lower()) and len(name_or_id) == 26:
            try:  # it may be an id (ULIDs are 26 characters)
                found: dict[str, Any] = self.api.get(f"/api/functions/{name_or_id}")
                return found
            except CliError as error:
                if error.status != 404:
                    raise
        if missing_ok:
            return None
        raise CliError(
            "FUNCTION_NOT_FOUND",
            f"No function {name_or_id!r}",
            f"the workspace {self.workspace_id} has no function of this name",
            hint="`faas function list` shows them; `faas deploy PATH --function NAME` creates one",
        )

    def function(self, name_or_id: str) -> dict[str, Any]:
        """The function with this name or id (CliError if there is none)."""
        found = self.find_function(name_or_id)
        assert found is not None
        return found
