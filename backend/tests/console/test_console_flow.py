"""The main flow in a real browser: workspace → function → upload → live timeline → build log."""

import re
import traceback
import zipfile
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.console.conftest import ARTIFACTS, ROOT, LiveBackend, screenshot

HELLO = ROOT / "examples" / "hello" / "app.py"
BUILD_LOG = (
    "Collecting spin-sdk==3.4.1\nComponentizing app with componentize-py 0.17.2\nWrote hello.wasm\n"
)
BROKEN = """from spin_sdk import http
from spin_sdk.http import Request, Response


class IncomingHandler(http.IncomingHandler):
    def handle_request(self request: Request) -> Response:
        return Response(200, {}, b"never")
"""


def compiler_message(source: str, filename: str = "app.py") -> str:
    """What CPython's compiler says about `source` (the build service reports these lines)."""
    try:
        compile(source, filename, "exec")
    except SyntaxError as error:
        return "".join(traceback.format_exception_only(error)).rstrip()
    raise AssertionError("the source compiles")


def test_create_upload_and_watch_a_deploy_complete(live: LiveBackend, page: Page) -> None:
    live.infra.succeed_after("build", polls=8)
    page.goto(live.console())
    expect(page.get_by_role("heading", level=1)).to_have_text("Workspaces")
    expect(page.get_by_text("No workspace yet")).to_be_visible()
    screenshot(page, "01-workspaces-empty")

    page.get_by_label("Name").fill("team-console")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("team-console")
    expect(page.get_by_text("No function yet")).to_be_visible()

    page.get_by_label("Name", exact=True).fill("hello")
    page.get_by_role("button", name="Create function").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("hello")
    expect(page.locator(".deployment-status")).to_have_text("not deployed")

    page.get_by_label("Source file").set_input_files(HELLO)
    expect(page.get_by_text(re.compile(r"app\.py \(\d+ B\)"))).to_be_visible()
    page.get_by_role("button", name="Upload", exact=True).click()
    task_id = live.write_build_log(BUILD_LOG)

    watch = page.locator(f".task-watch[data-task-id='{task_id}']")
    expect(watch).to_be_visible()
    expect(page.locator("progress")).to_have_js_property("value", 100)
    stages = watch.get_by_role("list", name="Stages").get_by_role("listitem")
    expect(stages).to_have_count(4)
    expect(stages.first).to_contain_text("build")
    screenshot(page, "02-function-building")

    expect(watch.locator(".stage-completed")).to_have_count(4, timeout=30_000)
    expect(watch.locator(".task-summary .badge")).to_have_text("completed")
    build_log = watch.get_by_role("log", name="Build log")
    expect(build_log).to_contain_text("Componentizing app with componentize-py 0.17.2")
    expect(build_log).to_contain_text("Wrote hello.wasm")
    expect(page.locator(".deployment-status")).to_have_text("deployed")
    # Deployed in the workspace's own namespace (`faas-<workspace id>`, app.storage.keys).
    expect(page.locator(".facts .endpoint")).to_have_text(
        re.compile(r"^http://127\.0\.0\.1:\d+/faas-[a-z0-9-]+/hello$")
    )
    screenshot(page, "03-function-deployed")
    page.locator("#sec-task").screenshot(path=str(ARTIFACTS / "03-timeline-and-build-log.png"))

    # The "Try it" panel calls the deployed function through the backend's invoke route (the
    # fake deploy service's endpoint is a real HTTP server answering as examples/hello does).
    panel = page.get_by_role("form", name="Send a request to hello")
    panel.get_by_label("The deployed function").check()
    panel.get_by_label("Path").fill("/greet?lang=en")
    panel.get_by_role("button", name="Send request").click()
    result = panel.locator(".invoke-result")
    expect(result.locator(".status-code")).to_have_text("200")
    expect(result.get_by_label("Body")).to_have_text("hello from hello")
    expect(result).to_contain_text("x-invocation-id")
    screenshot(page, "03b-function-invoked")

    # The deploy recorded revision 1, listed as live once the task ended.
    revisions = page.locator("#sec-deployment table")
    expect(revisions.get_by_role("row")).to_have_count(2)  # the header and revision 1
    expect(revisions).to_contain_text("1 (live)")
    expect(revisions).to_contain_text("deploy")

    logs = page.get_by_role("log", name="Logs of hello")
    expect(logs).to_contain_text("Wrote hello.wasm")  # read again when the task ended
    page.get_by_label("Source", exact=True).select_option("pipeline")
    expect(logs).to_contain_text("[pipeline/deploy]")
    expect(logs).not_to_contain_text("Wrote hello.wasm")

    page.get_by_role("link", name="team-console").click()
    history = page.get_by_role("table", name="Tasks, newest first")
    expect(history.get_by_role("row")).to_have_count(2)  # the header and the one task
    expect(history).to_contain_text("build-and-deploy")
    expect(page.get_by_role("table", name="Functions of this workspace")).to_contain_text(
        "deployed"
    )
    screenshot(page, "04-workspace")

    history.get_by_role("link", name=f"Task {task_id}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("build-and-deploy task of hello")
    expect(page.get_by_role("log", name="Build log")).to_contain_text("Wrote hello.wasm")
    screenshot(page, "05-task")
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_a_syntax_error_shows_the_compilers_lines(
    live: LiveBackend, page: Page, tmp_path: Path
) -> None:
    message = compiler_message(BROKEN)
    assert "def handle_request(self request: Request)" in message
    live.infra.fail("build", "BUILD_FAILED", message, after_polls=2)
    with live.api() as api:
        workspace = api.post("/api/workspaces", json={"name": "broken"}).json()
        fn = api.post(f"/api/workspaces/{workspace['id']}/functions", json={"name": "broken"})
    source = tmp_path / "app.py"
    source.write_text(BROKEN)

    page.goto(live.console(f"#/functions/{fn.json()['id']}"))
    expect(page.get_by_role("heading", level=1)).to_have_text("broken")
    page.get_by_label("Build only").check()
    page.get_by_label("Source file").set_input_files(source)
    page.get_by_role("button", name="Upload", exact=True).click()

    failure = page.locator(".task-watch").get_by_role("alert")
    expect(failure).to_contain_text("BUILD_FAILED", timeout=30_000)
    lines = failure.get_by_label("Error message")
    expect(lines).to_contain_text('File "app.py", line 6')
    expect(lines).to_contain_text("def handle_request(self request: Request) -> Response:")
    expect(lines).to_contain_text("SyntaxError")
    expect(page.locator(".timeline .stage-failed")).to_contain_text("build")
    expect(page.locator(".task-summary .badge")).to_have_text("failed")
    screenshot(page, "06-build-failed")


def test_an_upload_the_server_refuses_shows_its_problem(
    live: LiveBackend, page: Page, tmp_path: Path
) -> None:
    with live.api() as api:
        workspace = api.post("/api/workspaces", json={"name": "refused"}).json()
        fn = api.post(f"/api/workspaces/{workspace['id']}/functions", json={"name": "zipped"})
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("main.py", "print('no app.py here')\n")
    page.goto(live.console(f"#/functions/{fn.json()['id']}"))
    page.get_by_label("Source file").set_input_files(archive)
    page.get_by_role("button", name="Upload", exact=True).click()
    problem = page.locator("form.upload").get_by_role("alert")
    expect(problem).to_contain_text("The upload was refused")
    expect(problem).to_contain_text("app.py")
    expect(page.get_by_text("No build yet")).to_be_visible()
