"""Configuration: login stores a file only its owner can read; the environment overrides it."""

import json
import stat
import tomllib

import httpx

from faas_cli.tests.conftest import ADMIN_KEY, Backend, Cli, error_of, json_of


def test_login_stores_url_and_key_in_a_file_only_its_owner_can_read(
    cli: Cli, secured_backend: Backend
) -> None:
    result = cli.ok("login", "--url", secured_backend.url, "--api-key", ADMIN_KEY)
    assert "Logged in to" in result.stdout

    assert stat.S_IMODE(cli.config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.config_file.parent.stat().st_mode) == 0o700
    stored = tomllib.loads(cli.config_file.read_text())
    assert stored == {"url": secured_backend.url, "api_key": ADMIN_KEY}
    # The stored key is used from now on: creating a workspace needs the admin key here.
    assert cli.ok("workspace", "create", "team", "-o", "json").exit_code == 0


def test_login_rewrites_an_existing_file_with_mode_0600(cli: Cli, secured_backend: Backend) -> None:
    cli.config_file.parent.mkdir(parents=True)
    cli.config_file.write_text('url = "http://old.example"\n')
    cli.config_file.chmod(0o644)
    cli.ok("login", "--url", secured_backend.url, "--api-key", "-", input=ADMIN_KEY + "\n")
    assert stat.S_IMODE(cli.config_file.stat().st_mode) == 0o600
    assert tomllib.loads(cli.config_file.read_text())["api_key"] == ADMIN_KEY


def test_login_with_a_bad_key_fails_with_the_401_code_and_stores_nothing(
    cli: Cli, secured_backend: Backend
) -> None:
    refused = httpx.get(
        f"{secured_backend.url}/api/workspaces", headers={"Authorization": "Bearer faas_nope"}
    )
    assert refused.status_code == 401

    result = cli("login", "--url", secured_backend.url, "--api-key", "faas_nope")
    assert result.exit_code == 1
    assert refused.json()["code"] in result.stderr
    assert "Traceback" not in result.output
    assert not cli.config_file.exists()


def test_a_bad_api_key_from_the_environment_exits_with_the_401_code(
    cli: Cli, secured_backend: Backend
) -> None:
    env = {"FAAS_URL": secured_backend.url, "FAAS_API_KEY": "faas_not_a_real_key"}
    expected = httpx.get(
        f"{secured_backend.url}/api/workspaces",
        headers={"Authorization": "Bearer faas_not_a_real_key"},
    ).json()

    text = cli("workspace", "list", env=env)
    assert text.exit_code == 1
    assert f"[{expected['code']}]" in text.stderr
    assert expected["title"] in text.stderr

    as_json = cli("workspace", "list", "-o", "json", env=env)
    assert as_json.exit_code == 1
    assert as_json.stdout == ""
    error = error_of(as_json)
    assert (error["code"], error["status"]) == (expected["code"], 401)


def test_config_show_never_prints_secrets_and_names_where_values_come_from(
    cli: Cli, secured_backend: Backend
) -> None:
    cli.ok("login", "--url", secured_backend.url, "--api-key", ADMIN_KEY)

    shown = cli.ok("config", "show")
    assert ADMIN_KEY not in shown.output
    assert secured_backend.url in shown.stdout

    secret = "faas_01abcdefghijklmnopqrstuvwx_s3cr3tvalue"
    overridden = cli.ok(
        "config", "show", "-o", "json", env={"FAAS_TOKEN": "tok-123", "FAAS_API_KEY": secret}
    )
    assert secret not in overridden.output and "s3cr3t" not in overridden.output
    data = json_of(overridden)
    assert data["credential"] == "faas_****"
    assert (data["credential_kind"], data["credential_source"]) == ("api_key", "env")
    assert (data["url"], data["url_source"]) == (secured_backend.url, "file")
    assert data["config_file"] == str(cli.config_file)


def test_faas_url_overrides_the_file_and_a_network_error_names_the_url(cli: Cli) -> None:
    cli.config_file.parent.mkdir(parents=True)
    cli.config_file.write_text('url = "http://127.0.0.1:9"\n')
    dead = "http://127.0.0.1:1"

    result = cli("workspace", "list", env={"FAAS_URL": dead})
    assert result.exit_code == 3
    assert "NETWORK_ERROR" in result.stderr
    assert f"{dead}/api/workspaces" in result.stderr
    assert "127.0.0.1:9" not in result.stderr

    as_json = cli("function", "list", "-o", "json", "-w", "x", env={"FAAS_URL": dead})
    assert as_json.exit_code == 3
    assert error_of(as_json)["code"] == "NETWORK_ERROR"
    assert json.dumps(error_of(as_json)).count(dead) >= 1


def test_logout_forgets_the_credential_but_keeps_the_url(
    cli: Cli, secured_backend: Backend
) -> None:
    cli.ok("login", "--url", secured_backend.url, "--api-key", ADMIN_KEY)
    cli.ok("logout")
    assert tomllib.loads(cli.config_file.read_text()) == {"url": secured_backend.url}
    assert stat.S_IMODE(cli.config_file.stat().st_mode) == 0o600
