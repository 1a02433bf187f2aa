"""invoke, test, revisions, rollback, scale: the CLI reports exactly what the backend answers.

These commands use routes fixed in SPEC §9 that other engineers are adding. Each test runs the
command, then asks the API the same thing directly: an error answer must come out as a clean
problem report (its code and status; for a route this backend does not have yet, a hint that
says so), and a success answer as the command's result.
"""

from typing import Any

import httpx
from typer.testing import Result

from faas_cli.tests.conftest import Backend, Cli, error_of, json_of


def _deployed(cli: Cli, times: int = 1) -> dict[str, Any]:
    cli.ok("init", "hello")
    for _ in range(times):
        cli.ok("deploy", "hello")
    function: dict[str, Any] = json_of(cli.ok("function", "get", "hello", "-o", "json"))
    return function


def _is_error(result: Result, direct: httpx.Response) -> bool:
    """Check an error answer was reported as the API gave it; False if the API succeeded."""
    if direct.is_success:
        return False
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.output
    problem, error = direct.json(), error_of(result)
    assert (error["code"], error["status"]) == (problem["code"], direct.status_code)
    if problem.get("detail") in ("Not Found", "Method Not Allowed"):  # no such route (yet)
        assert "has no route" in error["hint"], error
        assert direct.request.url.path in error["hint"]
    return True


def test_invoke_reports_the_answer_or_the_problem(api_cli: Cli, backend: Backend) -> None:
    function = _deployed(api_cli)
    result = api_cli("invoke", "hello", "/greet?x=1", "-o", "json")
    direct = httpx.get(f"{backend.url}/api/functions/{function['id']}/invoke/greet?x=1")
    if _is_error(result, direct):
        return
    answer = json_of(result)
    assert answer["status"] == direct.status_code
    assert answer["body"] == direct.text


def test_test_invoke_reports_the_result_or_the_problem(api_cli: Cli, backend: Backend) -> None:
    function = _deployed(api_cli)
    result = api_cli("test", "hello", "/", "-o", "json")
    direct = httpx.post(
        f"{backend.url}/api/functions/{function['id']}/test",
        json={"method": "GET", "path": "/", "headers": {}, "body": ""},
        timeout=60,
    )
    if _is_error(result, direct):
        return
    outcome = json_of(result)
    assert {"status", "headers", "body", "stdout", "stderr", "duration_ms"} <= set(outcome)
    assert result.exit_code == (1 if outcome.get("error_code") else 0)


def test_revisions_lists_what_the_api_lists(api_cli: Cli, backend: Backend) -> None:
    function = _deployed(api_cli, times=2)
    result = api_cli("revisions", "hello", "-o", "json")
    direct = httpx.get(f"{backend.url}/api/functions/{function['id']}/revisions")
    if _is_error(result, direct):
        return
    assert result.exit_code == 0
    body = direct.json()
    assert json_of(result) == (body["items"] if isinstance(body, dict) else body)
    assert len(json_of(result)) >= 2


def test_rollback_follows_its_task_or_reports_the_problem(api_cli: Cli, backend: Backend) -> None:
    function = _deployed(api_cli, times=2)
    result = api_cli("rollback", "hello", "-o", "json")
    if result.exit_code != 0:
        direct = httpx.post(f"{backend.url}/api/functions/{function['id']}/rollback", json={})
        assert _is_error(result, direct)
        return
    task = json_of(result)
    assert task["status"] == "completed"
    after = json_of(api_cli.ok("function", "get", "hello", "-o", "json"))
    assert after["latest_task_id"] == task["task_id"]


def test_scale_changes_the_replicas_or_reports_the_problem(api_cli: Cli, backend: Backend) -> None:
    function = _deployed(api_cli)
    result = api_cli("scale", "hello", "1", "-o", "json")
    if result.exit_code != 0:
        direct = httpx.post(
            f"{backend.url}/api/functions/{function['id']}/scale", json={"replicas": 1}
        )
        assert _is_error(result, direct)
        return
    after = json_of(api_cli.ok("function", "get", "hello", "-o", "json"))
    assert after["replicas"] == 1


def test_a_missing_route_is_reported_in_text_with_its_code_and_a_hint(
    api_cli: Cli, backend: Backend
) -> None:
    """Against a backend without the route (today's main), text mode says what happened."""
    function = _deployed(api_cli)
    result = api_cli("scale", "hello", "0")
    if result.exit_code == 0:
        return  # the route exists: test_scale_changes_the_replicas… covers it
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error [")
    if lines[0] == "error [NOT_FOUND] Not found":
        assert lines[1] == (
            f"hint: the server at {backend.url} has no route "
            f"POST /api/functions/{function['id']}/scale: it may be older than this client"
        )
    assert "Traceback" not in result.output
