"""The backend serves the built console at /console/ with a CSP of its own."""

import re
from pathlib import Path

import httpx
from fastapi import FastAPI

from app.console import mount_console


async def test_the_console_page_is_served_with_its_own_csp(
    client: httpx.AsyncClient, console_assets: Path
) -> None:
    for path in ("/console/", "/console"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert '<main id="main"' in response.text
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-frame-options"] == "DENY"  # the common headers stay

    script = re.search(r'src="(/console/assets/[^"]+\.js)"', (await client.get("/console/")).text)
    assert script, "index.html names its bundle"
    asset = await client.get(script.group(1))
    assert asset.status_code == 200
    assert "javascript" in asset.headers["content-type"]
    assert "immutable" in asset.headers["cache-control"]


async def test_the_api_keeps_its_deny_everything_csp(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["cache-control"] == "no-store"


async def test_an_unknown_console_file_is_404_and_nothing_outside_is_served(
    client: httpx.AsyncClient, console_assets: Path
) -> None:
    assert (await client.get("/console/assets/missing.js")).status_code == 404
    assert (await client.get("/console/..%2F__init__.py")).status_code == 404


async def test_an_unbuilt_console_says_how_to_build_it(tmp_path: Path) -> None:
    app = FastAPI()
    mount_console(app, directory=tmp_path / "missing")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        response = await http.get("/console/")
    assert response.status_code == 503
    assert "make console" in response.text
