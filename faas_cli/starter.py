"""The starter function `faas init NAME` writes: it deploys as it is."""

from pathlib import Path

from faas_cli.errors import usage_error

APP_PY = '''"""{name}: a Python function on Spin (spin-sdk 3.4.1, HTTP trigger)."""

from spin_sdk import http
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self, request: Request) -> Response:
        """Answer one HTTP request (synchronous: called once per request)."""
        body = f"Hello from {name}! You asked for {{request.method}} {{request.uri}}\\n"
        return Response(200, {{"content-type": "text/plain; charset=utf-8"}}, body.encode())
'''

REQUIREMENTS_TXT = """\
# Pure-Python packages this function needs, one per line (for example: humanize==4.12.3).
# The build bundles py3-none-any wheels only; spin-sdk comes with the build toolchain.
"""

FAASIGNORE = """\
# Left out of `faas deploy` (gitignore syntax). .git/, __pycache__/ and .venv/ always are.
.env
*.zip
tests/
build/
dist/
"""


def write_starter(folder: Path, name: str, *, force: bool = False) -> list[Path]:
    """Write app.py, requirements.txt and .faasignore into `folder`; the files written."""
    if folder.exists() and not folder.is_dir():
        raise usage_error("PATH_EXISTS", f"{folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise usage_error(
            "PATH_EXISTS",
            f"{folder} is not empty",
            "faas init writes into a new or empty folder",
            hint="pass --force to overwrite app.py, requirements.txt and .faasignore there",
        )
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "app.py": APP_PY.format(name=name),
        "requirements.txt": REQUIREMENTS_TXT,
        ".faasignore": FAASIGNORE,
    }
    written = []
    for filename, text in files.items():
        path = folder / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
