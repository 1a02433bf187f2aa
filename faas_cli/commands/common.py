"""Options and small helpers the commands share."""

import sys
from typing import Annotated

import typer

from faas_cli.errors import usage_error
from faas_cli.output import OutputMode

OutputOption = Annotated[
    OutputMode,
    typer.Option(
        "--output",
        "-o",
        help="text for people; json prints machine-readable JSON only on stdout.",
        envvar="FAAS_OUTPUT",
        case_sensitive=False,
    ),
]
WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace name or id (default: the current one, see `faas workspace use`).",
        show_default=False,
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def parse_variables(values: list[str] | None) -> dict[str, str]:
    """`K=V` pairs as a dict (a later K wins)."""
    variables: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise usage_error("INVALID_VARIABLE", f"--var {item!r} is not NAME=VALUE")
        variables[name.strip()] = value
    return variables


def parse_headers(values: list[str] | None) -> dict[str, str]:
    """`Name: value` headers as a dict."""
    headers: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise usage_error("INVALID_HEADER", f"-H {item!r} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def read_data(data: str | None) -> bytes | None:
    """A request body from -d: the text itself, @FILE for a file's bytes, @- for stdin."""
    if data is None:
        return None
    if data == "@-":
        return sys.stdin.buffer.read()
    if data.startswith("@"):
        try:
            with open(data[1:], "rb") as file:
                return file.read()
        except OSError as exc:
            raise usage_error("DATA_NOT_READABLE", f"Cannot read {data[1:]}", str(exc)) from exc
    return data.encode("utf-8")


def confirm(question: str, *, yes: bool) -> None:
    """Ask before something that cannot be undone; refuse without a terminal unless --yes."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise usage_error(
            "CONFIRMATION_REQUIRED", question, "no terminal to ask on", hint="pass --yes"
        )
    if not typer.confirm(question, default=False):
        raise typer.Abort()
