"""The backend serves the built console at /console/ with a CSP of its own (over real HTTP)."""

import re
from pathlib import Path

import httpx
from fastapi import FastAPI

from app.console import mount_console
from tests.console.conftest import LiveBackend, serve


def test_the_console_page_is_served_with_its_own_csp(live: LiveBackend) -> None:
    with live.api() as client:
        for path in ("/console/", "/console"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith("text/html")
            assert '<main id="main"' in response.text
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "connect-src 'self'" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-frame-options"] == "DENY"  # the common headers stay

        script = re.search(r'src="(/console/assets/[^"]+\.js)"', client.get("/console/").text)
        assert script, "index.html names its bundle"
        asset = client.get(script.group(1))
        assert asset.status_code == 200
        assert "javascript" in asset.headers["content-type"]
        assert "immutable" in asset.headers["cache-control"]


def test_the_api_keeps_its_deny_everything_csp(live: LiveBackend) -> None:
    with live.api() as client:
        response = client.get("/health")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["cache-control"] == "no-store"


def test_an_unknown_console_file_is_404_and_nothing_outside_is_served(live: LiveBackend) -> None:
    with live.api() as client:
        assert client.get("/console/assets/missing.js").status_code == 404
        assert client.get("/console/..%2F__init__.py").status_code == 404
        assert client.get("/console/%2e%2e/assets.py").status_code == 404


def test_an_unbuilt_console_says_how_to_build_it(tmp_path: Path) -> None:
    app = FastAPI()
    mount_console(app, directory=tmp_path / "missing")
    with serve(app=app) as url:
        response = httpx.get(f"{url}/console/")
    assert response.status_code == 503
    assert "make console" in response.text
