"""The OpenAPI description is valid, every `$ref` resolves, and a real generator can use it.

A frontend team generates its client from /openapi.json. Checked three ways: every reference
is followed by hand; `openapi-spec-validator` validates the document; `openapi-python-client`
generates a client (any warning fails the test), which is imported and used against the app
served by uvicorn.
"""

import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from app.config import Settings
from app.main import create_app
from tests.api.openapi_cases import resolve
from tests.api.support import serving

# In its own env (requirements-openapi-gen.txt says why), made by the Makefile.
GENERATOR = (
    Path(__file__).resolve().parents[3]
    / ".venv"
    / "openapi-gen"
    / "bin"
    / ("openapi-python-client")
)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings(_env_file=None)).openapi()


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_every_ref_points_into_the_components_and_resolves(document: dict[str, Any]) -> None:
    refs = list(_refs(document))
    assert refs
    outside = sorted({ref for ref in refs if not ref.startswith("#/components/schemas/")})
    assert not outside, outside
    for ref in set(refs):
        assert resolve(document, {"$ref": ref}), ref


def test_the_document_passes_an_independent_validator(document: dict[str, Any]) -> None:
    validate(document)


def test_every_error_answer_is_documented_as_a_problem(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")) and "content" in answer:
                    assert list(answer["content"]) in (
                        ["application/problem+json"],
                        ["application/json"],  # health/ready's own 503 body
                    ), f"{method} {path} {status}"


@pytest.fixture(scope="module")
def generated_client(tmp_path_factory: pytest.TempPathFactory, document: dict[str, Any]) -> str:
    """Generate a Python client with openapi-python-client; returns its package name."""
    root = tmp_path_factory.mktemp("generated")
    spec = root / "openapi.json"
    spec.write_text(json.dumps(document))
    bin_dir = Path(sys.executable).parent  # its post-processing runs our ruff
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    assert GENERATOR.is_file(), f"{GENERATOR} is missing: `make test` (or `make openapi-gen`)"
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(spec),
         "--meta", "none", "--output-path", str(root / "faas_client")],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The generator still exits 0 when it skips what it cannot parse; it says so.
    assert not re.search(r"warning|error|skipping|cannot", output, re.IGNORECASE), output
    sys.path.insert(0, str(root))
    yield "faas_client"
    sys.path.remove(str(root))
    for name in [n for n in sys.modules if n == "faas_client" or n.startswith("faas_client.")]:
        del sys.modules[name]


def test_a_generated_client_imports_and_talks_to_the_app(
    generated_client: str, settings: Settings
) -> None:
    client_module = importlib.import_module(generated_client)
    models = importlib.import_module(f"{generated_client}.models")
    create = importlib.import_module(
        f"{generated_client}.api.workspaces.create_workspace_api_workspaces_post"
    )
    get = importlib.import_module(
        f"{generated_client}.api.workspaces.get_workspace_api_workspaces_workspace_id_get"
    )
    update = importlib.import_module(
        f"{generated_client}.api.workspaces.update_workspace_api_workspaces_workspace_id_patch"
    )
    with serving(create_app(settings)) as url:
        client = client_module.AuthenticatedClient(base_url=url, token="unused-in-auth-mode-none")
        created = create.sync(client=client, body=models.WorkspaceCreate(name="generated"))
        assert isinstance(created, models.Workspace), created
        assert created.name == "generated"
        missing = get.sync(client=client, workspace_id="no-such-workspace")
        assert isinstance(missing, models.Problem), missing
        assert missing.code == "WORKSPACE_NOT_FOUND" and missing.status == 404
        refused = update.sync_detailed(
            client=client, workspace_id=created.id, body=models.WorkspaceUpdate.from_dict({})
        )
        assert refused.status_code == 422
        assert isinstance(refused.parsed, models.Problem)
        assert refused.parsed.errors and refused.parsed.errors[0].field
        assert httpx.get(f"{url}/api/workspaces/{created.id}").json()["name"] == "generated"
