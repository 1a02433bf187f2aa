"""ecr-upload.sh: shellcheck-clean, and its dry run prints the commands it would run."""

import os
import re
import shutil
import subprocess

import pytest

from deploy_tests.support import ECR_UPLOAD, ROOT

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ECR_UPLOAD), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def _dry_run(*args: str) -> list[str]:
    result = _run("--dry-run", "--account-id", "123456789012", "--region", "eu-west-1", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_script_is_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (make test installs it)")
    result = subprocess.run(
        [shellcheck, "--severity=style", str(ECR_UPLOAD)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_script_is_strict_and_executable() -> None:
    text = ECR_UPLOAD.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text.splitlines()[:5]
    assert os.access(ECR_UPLOAD, os.X_OK)


def test_help_describes_the_options() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for option in ("--dry-run", "--region", "--account-id", "--tag"):
        assert option in result.stdout


def test_unknown_option_is_refused() -> None:
    result = _run("--push-everything")
    assert result.returncode != 0
    assert "unknown option" in result.stderr


def test_dry_run_prints_login_build_tag_and_push_for_both_images() -> None:
    lines = _dry_run("--tag", "abc123")
    assert (
        f"+ aws ecr get-login-password --region eu-west-1 | docker login --username AWS "
        f"--password-stdin {REGISTRY}"
    ) in lines
    for image, dockerfile in (
        ("faas-backend", "backend/Dockerfile"),
        ("faas-infra-service", "infra/Dockerfile"),
    ):
        builds = [
            line for line in lines if line.startswith("+ docker build") and dockerfile in line
        ]
        assert len(builds) == 1, lines
        assert f"--tag {REGISTRY}/{image}:abc123" in builds[0]
        assert f"--tag {REGISTRY}/{image}:latest" in builds[0]
        assert f"+ docker push {REGISTRY}/{image}:abc123" in lines
        assert f"+ docker push {REGISTRY}/{image}:latest" in lines
        creates = [
            line
            for line in lines
            if f"create-repository --region eu-west-1 --repository-name {image} " in line
        ]
        assert len(creates) == 1 and "describe-repositories" in creates[0], lines


def test_dry_run_logs_in_before_pushing() -> None:
    lines = _dry_run("--tag", "abc123")
    login = next(i for i, line in enumerate(lines) if "get-login-password" in line)
    first_push = next(i for i, line in enumerate(lines) if line.startswith("+ docker push"))
    create = max(i for i, line in enumerate(lines) if "create-repository" in line)
    assert create < login < first_push


def test_default_tag_is_the_git_commit() -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if commit.returncode != 0:
        pytest.skip("not a git checkout")
    builds = [line for line in _dry_run() if line.startswith("+ docker build")]
    sha = commit.stdout.strip()
    # "-dirty" is appended when tracked files have local edits.
    assert re.search(rf"/faas-backend:{sha}(-dirty)? ", builds[0]), builds[0]


def test_only_limits_the_run_to_one_image() -> None:
    lines = _dry_run("--tag", "t", "--only", "backend")
    assert not any("infra-service" in line for line in lines)
    assert any(line.startswith("+ docker push") and "faas-backend:t" in line for line in lines)


def test_dry_run_without_account_shows_the_sts_lookup_and_calls_nothing(tmp_path) -> None:
    # A fake `aws` that fails loudly: a dry run must not call it.
    fake = tmp_path / "aws"
    fake.write_text("#!/bin/sh\necho called >&2\nexit 99\n")
    fake.chmod(0o755)
    result = _run(
        "--dry-run",
        "--tag",
        "t",
        env={"PATH": f"{tmp_path}:{os.environ['PATH']}", "AWS_ACCOUNT_ID": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "called" not in result.stderr
    assert "+ aws sts get-caller-identity --query Account --output text" in result.stdout
