"""`faas init` → `faas deploy` → follow to completed → logs, against the backend and the fake."""

import io
import json
import queue
import subprocess
import threading
import zipfile
from pathlib import Path

from faas_cli.tests.conftest import Backend, Cli, error_of, faas_command, json_of, subprocess_env

STAGES = ["build", "push", "scaffold", "deploy"]


def fake_endpoint(backend: Backend, workspace_id: str) -> str:
    """What the fake's deploy reports: the app in its workspace's namespace."""
    return backend.infra.runtime.endpoint(f"faas-{workspace_id}", "hello")


def test_init_deploy_follows_every_stage_and_prints_the_endpoint_then_logs(
    api_cli: Cli, backend: Backend
) -> None:
    api_cli.ok("init", "hello")
    result = api_cli.ok("deploy", "hello")

    lines = result.stdout.splitlines()
    shown = [line.split()[1] for line in lines if line.strip().startswith("✓")]
    assert shown == STAGES
    assert all(line.rstrip().endswith("s") for line in lines if line.strip().startswith("✓"))
    assert "created function hello" in result.stderr

    function = json_of(api_cli.ok("function", "get", "hello", "-o", "json"))
    endpoint = fake_endpoint(backend, function["workspace_id"])
    assert f"Deployed hello: {endpoint}" in result.stdout
    assert (function["deployment_status"], function["endpoint"]) == ("deployed", endpoint)

    logs = api_cli.ok("logs", "hello")
    assert "pipeline" in logs.stdout
    entries = json_of(api_cli.ok("logs", "hello", "--source", "pipeline", "-o", "json"))
    assert entries and {e["source"] for e in entries} == {"pipeline"}
    assert {e["task_id"] for e in entries} == {function["latest_task_id"]}

    tasks = json_of(api_cli.ok("tasks", "-o", "json"))
    assert [t["task_id"] for t in tasks] == [function["latest_task_id"]]
    got = api_cli.ok("task", "get", function["latest_task_id"])
    assert "completed" in got.stdout


def test_deploy_with_json_output_prints_only_json_on_stdout(api_cli: Cli, backend: Backend) -> None:
    api_cli.ok("init", "hello")
    result = api_cli.ok("deploy", "hello", "-o", "json")
    data = json_of(result)
    assert data["task"]["status"] == "completed"
    assert [s["name"] for s in data["task"]["stages"]] == STAGES
    assert data["function"]["name"] == "hello"
    assert data["endpoint"] == fake_endpoint(backend, data["function"]["workspace_id"])
    assert data["invoke_url"].endswith(f"/api/functions/{data['function']['id']}/invoke/")
    assert result.stderr == ""


def test_a_failed_build_exits_non_zero_with_build_failed_and_the_compiler_line(
    api_cli: Cli, backend: Backend
) -> None:
    compiler = "app.py, line 7: SyntaxError: expected ':'\n    def handle_request(self, request)"
    backend.infra.fail("build", message=compiler)
    api_cli.ok("init", "hello")

    result = api_cli("deploy", "hello")
    assert result.exit_code == 1
    assert "[BUILD_FAILED]" in result.stderr
    assert "app.py, line 7: SyntaxError: expected ':'" in result.stderr
    assert "def handle_request(self, request)" in result.stderr
    assert "✗ build" in result.stdout
    assert "Deployed" not in result.stdout

    as_json = api_cli("deploy", "hello", "-o", "json")
    assert as_json.exit_code == 1
    assert json_of(as_json)["task"]["status"] == "failed"
    error = error_of(as_json)
    assert error["code"] == "BUILD_FAILED"
    assert "app.py, line 7: SyntaxError: expected ':'" in error["lines"]


def test_deploy_passes_variables_and_replicas_to_the_function_and_the_manifest(
    api_cli: Cli, backend: Backend
) -> None:
    api_cli.ok("init", "hello")
    api_cli.ok("deploy", "hello", "--var", "greeting=hi", "--replicas", "3")
    api_cli.ok("deploy", "hello", "--var", "extra=a=b")

    function = json_of(api_cli.ok("function", "get", "hello", "-o", "json"))
    assert function["variables"] == {"greeting": "hi", "extra": "a=b"}
    assert function["replicas"] == 3
    first, second = backend.infra.submissions("scaffold")
    assert (first["variables"], first["replicas"]) == ({"greeting": "hi"}, 3)
    assert second["variables"] == {"greeting": "hi", "extra": "a=b"}


def test_deploy_zips_a_folder_honouring_faasignore_with_app_py_at_the_root(
    api_cli: Cli, backend: Backend, tmp_path: Path
) -> None:
    api_cli.ok("init", "shop", "--dir", str(tmp_path / "shop"))
    folder = tmp_path / "shop"
    (folder / "helpers").mkdir()
    (folder / "helpers" / "__init__.py").write_text("")
    (folder / "helpers" / "money.py").write_text("def cents(x):\n    return round(x * 100)\n")
    (folder / ".env").write_text("SECRET=1\n")  # the starter's .faasignore leaves it out
    (folder / "tests").mkdir()
    (folder / "tests" / "test_app.py").write_text("")
    (folder / "notes.log").write_text("x")
    (folder / "keep.log").write_text("x")
    with (folder / ".faasignore").open("a") as ignore:
        ignore.write("*.log\n!keep.log\n")

    data = json_of(api_cli.ok("deploy", str(folder), "-o", "json"))
    stored = backend.s3_object(data["task"]["result"]["source_code_path"])
    names = sorted(zipfile.ZipFile(io.BytesIO(stored)).namelist())
    assert names == [
        "app.py",
        "helpers/__init__.py",
        "helpers/money.py",
        "keep.log",
        "requirements.txt",
    ]


def test_a_single_py_file_is_sent_as_it_is(api_cli: Cli, backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "greeter.py"
    api_cli.ok("init", "tmp", "--dir", str(tmp_path / "tmp"))
    source.write_bytes((tmp_path / "tmp" / "app.py").read_bytes())

    data = json_of(api_cli.ok("deploy", str(source), "-o", "json"))
    assert data["function"]["name"] == "greeter"
    stored_path = data["task"]["result"]["source_code_path"]
    assert stored_path.endswith("/greeter.py")
    assert backend.s3_object(stored_path) == source.read_bytes()


def test_no_follow_returns_the_task_at_once_and_task_watch_follows_it(
    api_cli: Cli, backend: Backend
) -> None:
    api_cli.ok("init", "hello")
    started = json_of(api_cli.ok("deploy", "hello", "--no-follow", "-o", "json"))
    task_id = started["task"]["task_id"]
    assert started["task"]["status"] in ("pending", "running")

    watched = api_cli.ok("task", "watch", task_id)
    assert [line.split()[1] for line in watched.stdout.splitlines() if "✓" in line] == STAGES
    endpoint = fake_endpoint(backend, started["task"]["workspace_id"])
    assert f"Completed: {endpoint}" in watched.stdout
    assert json_of(api_cli.ok("task", "get", task_id, "-o", "json"))["status"] == "completed"


def test_build_only_compiles_and_prints_the_component(api_cli: Cli) -> None:
    api_cli.ok("init", "hello")
    result = api_cli.ok("build", "hello")
    assert "✓ build" in result.stdout and "push" not in result.stdout
    task = json_of(api_cli.ok("tasks", "-o", "json"))[0]
    assert (task["type"], task["status"], task["function_id"]) == ("build", "completed", None)
    assert f"Built hello: {task['result']['wasm_path']}" in result.stdout
    # No function was created for a build without --function.
    assert json_of(api_cli.ok("function", "list", "-o", "json")) == []


def test_deploy_with_no_create_refuses_a_missing_function(api_cli: Cli) -> None:
    api_cli.ok("init", "hello")
    result = api_cli("deploy", "hello", "--no-create")
    assert result.exit_code == 1
    assert "[FUNCTION_NOT_FOUND]" in result.stderr
    assert json_of(api_cli.ok("function", "list", "-o", "json")) == []


def test_a_folder_without_app_py_is_refused_before_anything_is_sent(
    api_cli: Cli, backend: Backend, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "main.py").write_text("x = 1\n")
    result = api_cli("deploy", str(tmp_path / "empty"))
    assert result.exit_code == 2
    assert "[NO_APP_PY]" in result.stderr
    assert backend.infra.total_requests == 0
    assert json_of(api_cli.ok("function", "list", "-o", "json")) == []


def test_the_installed_console_script_deploys_and_prints_json(api_cli: Cli, tmp_path: Path) -> None:
    api_cli.ok("init", "hello", "--dir", str(tmp_path / "hello"))
    run = subprocess.run(
        [*faas_command(), "deploy", str(tmp_path / "hello"), "--output", "json"],
        env=subprocess_env(api_cli),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["task"]["status"] == "completed"


def test_logs_follow_streams_new_lines_once_each_as_json_lines(
    api_cli: Cli, backend: Backend
) -> None:
    api_cli.ok("init", "hello")
    api_cli.ok("function", "create", "hello")
    follower = subprocess.Popen(
        [*faas_command(), "logs", "hello", "--follow", "-o", "json"],
        env=subprocess_env(api_cli),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in follower.stdout or ()])
    reader.start()
    try:
        api_cli.ok("deploy", "hello")
        api_cli.ok("deploy", "hello")
        seen: list[dict] = []
        while sum(e["message"] == "task completed" for e in seen) < 2:
            seen.append(json.loads(lines.get(timeout=60)))
    finally:
        follower.terminate()
        follower.wait(timeout=10)
        reader.join(timeout=10)
    keys = [(e["time"], e["task_id"], e["message"]) for e in seen]
    assert len(keys) == len(set(keys))  # each line once
    assert len({e["task_id"] for e in seen}) == 2
    assert all(e["source"] == "pipeline" for e in seen)
