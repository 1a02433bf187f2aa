"""`faas workspace …`, `faas function …` and `faas api-key …` against the backend."""

import tomllib

import httpx

from faas_cli.tests.conftest import ADMIN_KEY, Backend, Cli, error_of, json_of


def test_workspaces_are_created_listed_chosen_and_deleted(cli: Cli, backend: Backend) -> None:
    cli.env["FAAS_URL"] = backend.url
    first = json_of(cli.ok("workspace", "create", "alpha", "-o", "json"))
    second = json_of(cli.ok("workspace", "create", "beta", "--description", "two", "-o", "json"))
    stored = tomllib.loads(cli.config_file.read_text())
    assert stored["workspace_id"] == first["id"]  # the first one becomes current

    listed = cli.ok("workspace", "list")
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0][:3] == ["NAME", "ID", "OWNER"]
    assert ["*", "alpha", first["id"]] in [row[:3] for row in rows]
    assert ["beta", second["id"]] in [row[:2] for row in rows]
    assert [w["name"] for w in json_of(cli.ok("workspace", "list", "-o", "json"))] == [
        "alpha",
        "beta",
    ]

    cli.ok("workspace", "use", "beta")
    assert tomllib.loads(cli.config_file.read_text())["workspace_id"] == second["id"]
    assert json_of(cli.ok("config", "show", "-o", "json"))["workspace_name"] == "beta"
    cli.ok("function", "create", "in-beta")
    assert [f["name"] for f in json_of(cli.ok("function", "list", "-o", "json"))] == ["in-beta"]
    assert json_of(cli.ok("function", "list", "-w", "alpha", "-o", "json")) == []

    unasked = cli("workspace", "delete", "beta")
    assert unasked.exit_code == 2 and "[CONFIRMATION_REQUIRED]" in unasked.stderr
    not_empty = cli("workspace", "delete", "beta", "--yes")
    assert not_empty.exit_code == 1 and "[WORKSPACE_NOT_EMPTY]" in not_empty.stderr
    cli.ok("workspace", "delete", "beta", "--yes", "--cascade")
    assert [w["name"] for w in json_of(cli.ok("workspace", "list", "-o", "json"))] == ["alpha"]
    assert "workspace_id" not in tomllib.loads(cli.config_file.read_text())

    missing = cli("workspace", "use", "gamma")
    assert missing.exit_code == 1 and "[WORKSPACE_NOT_FOUND]" in missing.stderr


def test_without_a_current_workspace_the_only_one_is_used_else_the_cli_asks(
    cli: Cli, backend: Backend
) -> None:
    cli.env["FAAS_URL"] = backend.url
    none = cli("function", "list")
    assert none.exit_code == 2 and "[NO_WORKSPACE]" in none.stderr
    httpx.post(f"{backend.url}/api/workspaces", json={"name": "solo"}).raise_for_status()
    assert cli.ok("function", "list", "-o", "json").stdout.strip() == "[]"
    httpx.post(f"{backend.url}/api/workspaces", json={"name": "second"}).raise_for_status()
    several = cli("function", "list")
    assert several.exit_code == 2 and "faas workspace use NAME" in several.stderr
    by_env = cli.ok("function", "list", "-o", "json", env={"FAAS_WORKSPACE": "second"})
    assert json_of(by_env) == []


def test_functions_are_created_listed_shown_and_deleted(api_cli: Cli) -> None:
    created = json_of(
        api_cli.ok(
            "function", "create", "resize", "--var", "size=64", "--replicas", "1", "-o", "json"
        )
    )
    assert (created["variables"], created["replicas"]) == ({"size": "64"}, 1)

    table = api_cli.ok("function", "list").stdout
    assert "resize" in table and created["id"] in table and "not_deployed" in table
    shown = api_cli.ok("function", "get", "resize").stdout
    assert "size=64" in shown and created["id"] in shown
    assert json_of(api_cli.ok("function", "get", created["id"], "-o", "json")) == created

    taken = api_cli("function", "create", "resize")
    assert taken.exit_code == 1 and "[FUNCTION_NAME_TAKEN]" in taken.stderr

    api_cli.ok("function", "delete", "resize", "--yes")
    gone = api_cli("function", "get", "resize", "-o", "json")
    assert gone.exit_code == 1 and error_of(gone)["code"] == "FUNCTION_NOT_FOUND"


def test_a_validation_error_shows_its_title_detail_and_the_field_at_fault(api_cli: Cli) -> None:
    result = api_cli("function", "create", "Not_A_Label")
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("error [VALIDATION_ERROR] Validation error: ")
    assert "name" in first
    assert any(line.strip().startswith("name:") for line in result.stderr.splitlines()[1:])

    as_json = error_of(api_cli("function", "create", "Not_A_Label", "-o", "json"))
    assert as_json["status"] == 422
    assert [e["field"] for e in as_json["errors"]] == ["name"]


def test_api_keys_are_created_listed_used_and_revoked(cli: Cli, secured_backend: Backend) -> None:
    cli.ok("login", "--url", secured_backend.url, "--api-key", ADMIN_KEY)
    workspace = json_of(cli.ok("workspace", "create", "ci", "-o", "json"))

    created = cli.ok("api-key", "create", "github")
    key = created.stdout.strip()
    assert key.startswith("faas_")
    listed = json_of(cli.ok("api-key", "list", "-o", "json"))
    assert [k["name"] for k in listed] == ["github"] and "key" not in listed[0]

    as_key = {"FAAS_API_KEY": key}
    assert cli.ok("function", "create", "from-ci", env=as_key).exit_code == 0
    own = json_of(cli.ok("workspace", "list", "-o", "json", env={"FAAS_API_KEY": key}))
    assert [w["id"] for w in own] == [workspace["id"]]
    forbidden = cli("api-key", "create", "more", "-o", "json", env=as_key)
    assert forbidden.exit_code == 1 and error_of(forbidden)["status"] == 403

    cli.ok("api-key", "revoke", listed[0]["id"], "--yes")
    assert json_of(cli.ok("api-key", "list", "-o", "json")) == []
    refused = cli("function", "list", "-o", "json", env=as_key)
    assert refused.exit_code == 1 and error_of(refused)["status"] == 401
