"""`faas invoke NAME [PATH]` (the deployed function) and `faas test NAME [PATH]` (a build)."""

import base64
from typing import Annotated, Any

import typer

from faas_cli.client import UPLOAD_TIMEOUT
from faas_cli.commands.common import (
    OutputOption,
    WorkspaceOption,
    parse_headers,
    read_data,
)
from faas_cli.errors import CliError, problem_error
from faas_cli.output import OutputMode
from faas_cli.session import Session

NameArg = Annotated[str, typer.Argument(help="Function name (or id).", show_default=False)]
PathArg = Annotated[str, typer.Argument(help="Path (and query) to request, e.g. /items?x=1.")]
MethodOption = Annotated[str | None, typer.Option("--request", "-X", help="HTTP method.")]
DataOption = Annotated[
    str | None,
    typer.Option("--data", "-d", help="Request body: text, @FILE, or @- for stdin."),
]
HeaderOption = Annotated[
    list[str] | None,
    typer.Option("--header", "-H", help="A header 'Name: value' (repeatable).", show_default=False),
]
IncludeOption = Annotated[
    bool, typer.Option("--include", "-i", help="Print the status line and headers too.")
]


def _body_text(body: bytes) -> dict[str, str]:
    try:
        return {"body": body.decode("utf-8"), "body_encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(body).decode(), "body_encoding": "base64"}


def invoke(
    name: NameArg,
    path: PathArg = "/",
    method: MethodOption = None,
    data: DataOption = None,
    header: HeaderOption = None,
    include: IncludeOption = False,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """Call the deployed function through the API; its answer's body goes to stdout."""
    with Session(output, workspace=workspace) as session:
        function = session.function(name)
        body = read_data(data)
        verb = (method or ("POST" if body is not None else "GET")).upper()
        target = f"/api/functions/{function['id']}/invoke/{path.lstrip('/')}"
        response = session.api.raw(
            verb, target, content=body, headers=parse_headers(header), timeout=UPLOAD_TIMEOUT
        )
        is_problem = response.headers.get("content-type", "").startswith("application/problem+json")
        if is_problem:  # the platform's refusal (not deployed, timeout…), not the function's
            raise problem_error(response)
        session.out.data(
            {
                "status": response.status_code,
                "headers": dict(response.headers),
                **_body_text(response.content),
            }
        )
        if not session.out.json:
            if include:
                session.out.say(f"HTTP {response.status_code} {response.reason_phrase}")
                for key, value in response.headers.items():
                    session.out.say(f"{key}: {value}")
                session.out.say("")
            session.out.raw(response.content)
        if response.status_code >= 400:
            raise CliError(
                "FUNCTION_HTTP_ERROR",
                f"The function answered {response.status_code}",
                response.reason_phrase,
                status=response.status_code,
            )


def test(
    name: NameArg,
    path: PathArg = "/",
    method: MethodOption = None,
    data: DataOption = None,
    header: HeaderOption = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Test this build task (default: the latest).")
    ] = None,
    include: IncludeOption = False,
    workspace: WorkspaceOption = None,
    output: OutputOption = OutputMode.text,
) -> None:
    """Run the latest (or a given) build once, without deploying it; show its answer and output."""
    with Session(output, workspace=workspace) as session:
        function = session.function(name)
        body = read_data(data)
        request: dict[str, Any] = {
            "method": (method or ("POST" if body is not None else "GET")).upper(),
            "path": "/" + path.lstrip("/"),
            "headers": parse_headers(header),
            "body": "",
        }
        if body is not None:
            encoded = _body_text(body)
            request["body"] = encoded["body"]
            if encoded["body_encoding"] != "utf-8":
                request["body_encoding"] = encoded["body_encoding"]
        if task:
            request["task_id"] = task
        result = session.api.post(
            f"/api/functions/{function['id']}/test", json=request, timeout=UPLOAD_TIMEOUT
        )
        session.out.data(result)
        _show_test_result(session, result, include=include)
        if result.get("error_code"):
            raise CliError(
                str(result["error_code"]),
                f"The test invocation failed ({result.get('status')})",
                str(result.get("error_message") or ""),
                status=result.get("status"),
            )


def _show_test_result(session: Session, result: dict[str, Any], *, include: bool) -> None:
    out = session.out
    if out.json:
        return
    duration = result.get("duration_ms")
    took = f" in {duration:.1f} ms" if isinstance(duration, int | float) else ""
    out.note(f"HTTP {result.get('status')}{took}", style="bold")
    if include:
        for key, value in (result.get("headers") or {}).items():
            out.say(f"{key}: {value}")
        out.say("")
    body = result.get("body") or ""
    if result.get("body_encoding") == "base64":
        out.raw(base64.b64decode(body))
    else:
        out.raw(body.encode("utf-8"))
    for stream in ("stdout", "stderr"):
        if result.get(stream):
            out.note(f"--- the function's {stream} ---", style="bold")
            out.note(str(result[stream]).rstrip("\n"), style=None)
