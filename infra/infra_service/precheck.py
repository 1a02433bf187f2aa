"""Cheap checks of the source before spending seconds on the compiler.

Every .py file must parse, and app.py must provide `IncomingHandler` the way spin-sdk 3.4.1
expects it (a class with a synchronous `handle_request`). Failures name the file and line.
"""

import ast
from pathlib import Path

from contract.sources import APP_MODULE
from infra_service.jobs import JobFailure

HANDLER = "IncomingHandler"


class SourceRejected(JobFailure):
    def __init__(self, message: str) -> None:
        super().__init__("BUILD_FAILED", message)


def check_sources(root: Path) -> list[str]:
    """Parse every .py under `root` and check app.py's handler; returns notes for the log."""
    for path in sorted(root.rglob("*.py")):
        if path.is_file():
            _parse(path, root)
    app = _parse(root / APP_MODULE, root)
    return _check_handler(app)


def _parse(path: Path, root: Path) -> ast.Module:
    name = path.relative_to(root).as_posix()
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceRejected(f"{name}: not UTF-8 text (byte {exc.start}).") from exc
    try:
        return ast.parse(text, filename=name)
    except SyntaxError as exc:
        where = f"{name}, line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
        code = (exc.text or "").rstrip("\n")
        caret = f"\n    {code.strip()}" if code.strip() else ""
        raise SourceRejected(f"{where}: {type(exc).__name__}: {exc.msg}{caret}") from exc
    except ValueError as exc:  # e.g. source with NUL bytes
        raise SourceRejected(f"{name}: cannot be parsed: {exc}.") from exc


def _check_handler(app: ast.Module) -> list[str]:
    for node in app.body:
        if isinstance(node, ast.ClassDef) and node.name == HANDLER:
            return _check_class(node)
    if _binds_name(app, HANDLER):
        return [f"app.py imports or assigns {HANDLER}; its shape is checked at compile time"]
    hint = ""
    if any(isinstance(n, ast.ClassDef) and n.name == "HttpHandler" for n in app.body):
        hint = " (HttpHandler is the spin-sdk 4.x/5.x name; this toolchain is spin-sdk 3.4.1)"
    raise SourceRejected(
        f"app.py does not define class {HANDLER}{hint}. Write "
        "`class IncomingHandler(http.IncomingHandler)` with a synchronous "
        "`def handle_request(self, request)` (spin-sdk 3.4.1)."
    )


def _check_class(node: ast.ClassDef) -> list[str]:
    for item in node.body:
        if isinstance(item, ast.AsyncFunctionDef) and item.name == "handle_request":
            raise SourceRejected(
                f"app.py, line {item.lineno}: handle_request must be synchronous "
                "(`def`, not `async def`) with spin-sdk 3.4.1."
            )
    if not any(
        isinstance(item, ast.FunctionDef) and item.name in ("handle_request", "handle")
        for item in node.body
    ):
        return [f"class {HANDLER} (line {node.lineno}) defines no handle_request of its own"]
    return [f"class {HANDLER} found at app.py line {node.lineno}"]


def _binds_name(module: ast.Module, name: str) -> bool:
    for node in module.body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            if any((alias.asname or alias.name.split(".")[0]) == name for alias in node.names):
                return True
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
    return False
