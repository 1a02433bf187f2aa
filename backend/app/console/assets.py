"""Static serving of the built console, with a CSP of its own (the API's forbids everything)."""

from pathlib import Path

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Scripts, styles and API calls from this origin only; nothing inline, no eval, no framing.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Vite names every asset after its content hash: it can be cached for good.
_IMMUTABLE = "public, max-age=31536000, immutable"
# index.html names the current hashes: the browser must ask again every time.
_REVALIDATE = "no-cache"

_NOT_BUILT = (
    "<!doctype html><title>Console not built</title>"
    "<p>The console's assets are not built. Run <code>make console</code> "
    "(or <code>make run</code>, which builds them) and reload.</p>"
)


class ConsoleFiles:
    """The built folder as an ASGI app: index.html for the root, hashed assets under /assets."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = StaticFiles(directory=directory, html=True, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (self.directory / "index.html").is_file():
            response = HTMLResponse(_NOT_BUILT, status_code=503, headers=_headers(_REVALIDATE))
            await response(scope, receive, send)
            return
        inner = scope.get("path", "")[len(scope.get("root_path", "")) :]
        cache = _IMMUTABLE if "/assets/" in inner else _REVALIDATE

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _headers(cache).items():
                    headers[name] = value
            await send(message)

        await self.files(scope, receive, with_headers)


def _headers(cache: str) -> dict[str, str]:
    return {"Content-Security-Policy": CONSOLE_CSP, "Cache-Control": cache}


def mount_console(app: FastAPI, *, directory: Path = STATIC_DIR) -> None:
    """Serve the console at /console/ (and /console itself) from `directory`."""
    files = ConsoleFiles(directory)
    app.router.routes.append(Route("/console", _Index(files), methods=["GET", "HEAD"]))
    app.router.routes.append(Mount("/console", app=files, name="console"))


class _Index:
    """/console without the slash: the same page (asset URLs are absolute, so nothing breaks)."""

    def __init__(self, files: ConsoleFiles) -> None:
        self.files = files

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.files({**scope, "path": "/console/", "root_path": "/console"}, receive, send)
