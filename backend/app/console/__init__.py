"""The web console, served at /console/: the static files `console/` builds (Vite + TypeScript).

Owns only the serving of the built assets (`static/`, made by `make console`, not committed)
and their response headers. It reads no storage and calls no service: the console is a client
of the public API like any other.
"""

from app.console.assets import STATIC_DIR, mount_console

__all__ = ["STATIC_DIR", "mount_console"]
