"""The "Try it" panel: a test invocation's answer laid out, and the server's problem shown."""

import json
import re

from playwright.sync_api import Page, Route, expect

from tests.console.conftest import LiveBackend, screenshot


def _function(live: LiveBackend) -> dict:
    with live.api() as api:
        workspace = api.post("/api/workspaces", json={"name": "tryit"}).json()
        return api.post(
            f"/api/workspaces/{workspace['id']}/functions", json={"name": "echo"}
        ).json()


def test_a_test_invocation_shows_status_headers_body_output_and_duration(
    live: LiveBackend, page: Page
) -> None:
    fn = _function(live)
    sent: list[dict] = []

    def test_route(route: Route) -> None:
        # POST /api/functions/{id}/test (SPEC §9) answered by a script: the panel's rendering
        # is under test here, whatever the deploy service's sandbox does.
        sent.append(json.loads(route.request.post_data or "{}"))
        route.fulfill(status=200, content_type="application/json", body=json.dumps({
            "status": 201, "headers": {"content-type": "text/plain", "x-echo": "yes"},
            "body": "echo: ping", "stdout": "handled POST /greet\n", "stderr": "warning: none\n",
            "duration_ms": 12.5, "error_code": None,
        }))  # fmt: skip

    page.route(f"**/api/functions/{fn['id']}/test", test_route)
    page.goto(live.console(f"#/functions/{fn['id']}"))
    panel = page.get_by_role("form", name="Send a request to echo")
    panel.get_by_label("Method").select_option("POST")
    panel.get_by_label("Path").fill("/greet?lang=en")
    panel.get_by_label("Headers").fill("content-type: text/plain\nx-trace: 1")
    panel.get_by_label("Body", exact=True).fill("ping")
    panel.get_by_role("button", name="Send request").click()

    result = panel.locator(".invoke-result")
    expect(result.locator(".status-code")).to_have_text("201")
    expect(result).to_contain_text("12.5 ms")
    expect(result).to_contain_text("x-echo")
    expect(result.get_by_label("Body")).to_have_text("echo: ping")
    expect(result.get_by_label("stdout")).to_have_text("handled POST /greet")
    expect(result.get_by_label("stderr")).to_have_text("warning: none")
    assert sent == [{
        "method": "POST", "path": "/greet?lang=en",
        "headers": {"content-type": "text/plain", "x-trace": "1"}, "body": "ping",
    }]  # fmt: skip
    screenshot(page, "08-try-it")


def test_invoking_a_function_that_cannot_answer_shows_the_servers_problem(
    live: LiveBackend, page: Page
) -> None:
    fn = _function(live)
    page.goto(live.console(f"#/functions/{fn['id']}"))
    panel = page.get_by_role("form", name="Send a request to echo")
    panel.get_by_label("The deployed function").check()
    expect(panel.get_by_label("Build to test (task id, optional)")).to_be_hidden()
    panel.get_by_role("button", name="Send request").click()
    problem = panel.get_by_role("alert")
    # Not deployed (FUNCTION_NOT_DEPLOYED), or no invoke route on this backend yet: a problem
    # either way, with its status, never a broken page.
    expect(problem).to_contain_text("The request did not reach the function")
    expect(problem).to_contain_text(re.compile(r"\((404|409|503)\)"))

    panel.get_by_label("Headers").fill("no colon here")
    panel.get_by_role("button", name="Send request").click()
    expect(panel.get_by_role("alert")).to_contain_text('header line 1 needs "Name: value"')
