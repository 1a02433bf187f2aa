"""Keyboard-only use, a phone-sized screen, and a backend that asks for a token."""

import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from app.config import Settings
from tests.conftest import with_overrides
from tests.console.conftest import PHONE, LiveBackend, no_horizontal_scroll, screenshot, serve
from tests.console.test_console_flow import BROKEN, HELLO

ADMIN_KEY = "console-admin-key-0123456789abcdefghij"

# What the focused element is called: its label, its aria-label, or its text.
_FOCUSED = """() => {
  const e = document.activeElement;
  const label = e.labels && e.labels.length ? e.labels[0].innerText : null;
  return {
    name: (e.getAttribute("aria-label") || label || e.innerText || e.value || "").trim(),
    tag: e.tagName.toLowerCase(),
    outline: getComputedStyle(e).outlineStyle,
  };
}"""


def tab_to(page: Page, name: str, *, limit: int = 60, backwards: bool = False) -> list[str]:
    """Press Tab (Shift+Tab) until the focus is on `name`; every stop must show a focus ring."""
    visited = []
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        focused = page.evaluate(_FOCUSED)
        visited.append(focused["name"])
        assert focused["outline"] != "none", f"no visible focus on {focused}"
        if focused["name"] == name:
            return visited
    raise AssertionError(f"{name!r} not reached by Tab; visited {visited}")


def deploy_by_api(live: LiveBackend, source: bytes, name: str) -> tuple[dict, dict, dict]:
    """A workspace, a function and its finished deploy task, made through the API."""
    with live.api() as api:
        workspace = api.post("/api/workspaces", json={"name": f"{name}-team"}).json()
        fn = api.post(f"/api/workspaces/{workspace['id']}/functions", json={"name": name}).json()
        task = api.post(
            f"/api/functions/{fn['id']}/deploy", files={"file": ("app.py", source)}
        ).json()
        deadline = time.monotonic() + 30
        while task["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, task
            time.sleep(0.1)
            task = api.get(f"/api/v1/tasks/{task['task_id']}").json()
    return workspace, fn, task


def test_the_main_flow_works_with_the_keyboard_alone(live: LiveBackend, page: Page) -> None:
    page.goto(live.console())
    expect(page.get_by_role("heading", level=1)).to_have_text("Workspaces")

    assert tab_to(page, "Skip to content", limit=1) == ["Skip to content"]
    page.keyboard.press("Enter")
    tab_to(page, "Name", limit=3)  # the first control of the page's own content
    page.keyboard.type("keyboard-team")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("keyboard-team")
    expect(page.locator("h1:focus")).to_have_text("keyboard-team")  # the new page's heading

    tab_to(page, "Name")
    page.keyboard.type("kbd")
    tab_to(page, "Create function")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("kbd")
    expect(page.locator("h1:focus")).to_have_text("kbd")

    tab_to(page, "Source file")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(HELLO)
    tab_to(page, "Upload")
    page.keyboard.press("Enter")
    expect(page.locator(".task-summary .badge")).to_have_text("completed", timeout=30_000)
    expect(page.get_by_role("status")).to_have_text("Task completed.")

    # Deleting asks first; Escape keeps the function and gives the focus back.
    assert page.evaluate(_FOCUSED)["name"] == "Upload"  # the focus stayed on the button
    tab_to(page, "Delete kbd", backwards=True)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    assert page.evaluate(_FOCUSED)["name"] == "Cancel"
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert page.evaluate(_FOCUSED)["name"] == "Delete kbd"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate(_FOCUSED)["name"] == "Delete kbd"  # the dialog's confirm button
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("keyboard-team")
    expect(page.get_by_text("No function yet")).to_be_visible()


def test_a_phone_sized_screen_has_no_horizontal_scroll(live: LiveBackend, page: Page) -> None:
    workspace, fn, task = deploy_by_api(live, HELLO.read_bytes(), "phone")
    live.infra.fail("build", "BUILD_FAILED", 'File "app.py", line 6\n' + BROKEN, app_name="phone")
    page.set_viewport_size(PHONE)
    pages = {
        "phone-01-workspaces": "",
        "phone-02-workspace": f"#/workspaces/{workspace['id']}",
        "phone-03-function": f"#/functions/{fn['id']}",
        "phone-04-task": f"#/tasks/{task['task_id']}",
    }
    for name, fragment in pages.items():
        page.goto(live.console(fragment))
        expect(page.get_by_role("heading", level=1)).not_to_have_text("")
        expect(page.locator("[aria-busy='true']")).to_have_count(0)  # the lists are in
        assert no_horizontal_scroll(page), f"{name} scrolls sideways at {PHONE}"
        screenshot(page, name)

    page.goto(live.console(f"#/functions/{fn['id']}"))
    page.get_by_label("Source file").set_input_files(HELLO)
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator(".task-summary .badge")).to_have_text("failed", timeout=30_000)
    assert no_horizontal_scroll(page)
    screenshot(page, "phone-05-build-failed")


@pytest.fixture
def guarded(backend_settings: Settings, live: LiveBackend) -> Iterator[LiveBackend]:
    """A second backend on the same stores that asks for tokens (AUTH_MODE=api-key)."""
    settings = with_overrides(backend_settings, auth_mode="api-key", admin_api_key=ADMIN_KEY)
    with serve(settings) as url:
        yield LiveBackend(url=url, settings=settings, infra=live.infra)


def test_a_backend_that_checks_tokens_gets_one_from_the_access_form(
    guarded: LiveBackend, page: Page
) -> None:
    assert httpx.get(f"{guarded.url}/api/workspaces").status_code == 401
    page.goto(guarded.console())
    expect(page.get_by_role("alert")).to_contain_text("401")
    access = page.locator("#access")
    expect(access).to_have_attribute("open", "")  # opened by the 401

    page.get_by_label("Bearer token").fill(ADMIN_KEY)
    page.get_by_role("button", name="Use token").click()
    expect(page.get_by_text("No workspace yet")).to_be_visible()
    assert page.evaluate("() => Object.keys(localStorage).length") == 0  # not remembered
    page.get_by_label("Name").fill("guarded")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("guarded")

    page.reload()  # the tab keeps its token
    expect(page.get_by_role("heading", level=1)).to_have_text("guarded")
    page.get_by_text("Access token (set)").click()
    page.get_by_role("button", name="Forget token").click()
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("401")
