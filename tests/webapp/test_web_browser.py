"""The web app in a real browser (Debian's Chromium driven by Playwright, network limited to loopback): log in
with the keyboard, declare, move through the stages, filter the board, see an API change appear without a
reload, log out. Screenshots of every page at 1440 and 375 px go to INCIDENTD_SCREENSHOTS (default
build/screenshots)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from first_run import clean_environment, served

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(os.environ.get("INCIDENTD_SCREENSHOTS", Path(__file__).parents[2] / "build" / "screenshots"))
EMAIL = "admin@incidentd.local"
PASSWORD = "a browser test password"
WIDTHS = (1440, 375)

pytestmark = pytest.mark.browser


@pytest.fixture
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: install chromium (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
        )
        try:
            yield launched
        finally:
            launched.close()


def shoot(page, name: str) -> None:
    """The page at both widths, full length; at 375 px nothing may be wider than the screen."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(100)
        if width == 375:
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= 375, f"{name} is {overflow} px wide at 375 px"
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})


def unlabelled_controls(page) -> list[str]:
    """Controls a screen reader could not name (no <label>, no aria-label)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map(el => el.outerHTML.slice(0, 120))"""
    )


def test_a_responder_runs_an_incident_from_the_browser(tmp_path: Path, browser) -> None:
    from playwright.sync_api import Route, expect

    left_loopback: list[str] = []

    def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost", "::1"):
            route.continue_()
        else:
            left_loopback.append(route.request.url)
            route.abort("internetdisconnected")

    with served(tmp_path) as server:
        token = re.search(r"^\s+(idt_\S+)$", server.output, re.MULTILINE).group(1)
        set_password = _set_password(tmp_path)
        assert set_password.returncode == 0, set_password.stderr
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})

        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.route("**/*", loopback_only)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console", lambda message: errors.append(f"{page.url}: {message.text}") if message.type == "error" else None
        )

        # Log in with the keyboard alone.
        page.goto(f"{server.url}/")
        expect(page).to_have_url(re.compile(r"/web/login\?next="))
        assert unlabelled_controls(page) == []
        shoot(page, "login")
        page.keyboard.type(EMAIL)  # the email field has the focus
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()

        # Declare: title, severity, Enter.
        page.get_by_role("link", name="Declare", exact=True).click()
        expect(page.get_by_label("Title")).to_be_focused()
        assert unlabelled_controls(page) == []
        shoot(page, "declare")
        page.keyboard.type("Checkout latency over 5 s")
        page.get_by_label("Severity").select_option("sev-1")
        page.get_by_label("Description (markdown)").fill("Customers see **timeouts** at checkout.")
        page.get_by_label("Title").press("Enter")
        expect(page.locator("h1")).to_contain_text("Checkout latency over 5 s")
        assert "timeouts" in page.locator(".markdown strong").inner_text()
        assert unlabelled_controls(page) == []
        incident_url = page.url

        # Move through the stages; htmx swaps the incident in place (no navigation).
        page.evaluate("window.stillTheSamePage = true")
        for stage in ("acknowledged", "fixing", "mitigated", "resolved"):
            page.get_by_role("button", name=f"Move to {stage}").click()
            expect(page.get_by_role("heading", name=f"Stage: {stage}")).to_be_visible()
        assert page.evaluate("window.stillTheSamePage") is True
        expect(page.get_by_role("button", name="Move to triage")).to_have_count(0)  # not from resolved
        expect(page.locator("dl.facts")).not_to_contain_text("so far")
        shoot(page, "incident")
        # Edit a field in place.
        page.get_by_label("Title", exact=True).fill("Checkout latency over 5 s (EU)")
        page.get_by_role("button", name="Save Title").click()
        expect(page.locator("h1")).to_contain_text("(EU)")
        assert page.evaluate("window.stillTheSamePage") is True

        # The board: two more incidents through the API, then a filter.
        api.post("/incidents.create", json={"title": "Search is slow", "severity": "sev-2"}).raise_for_status()
        api.post("/incidents.create", json={"title": "<script>alert(1)</script>", "severity": "sev-0"})
        page.get_by_role("link", name="Board", exact=True).click()
        expect(page.get_by_role("link", name="<script>alert(1)</script>")).to_be_visible()  # text, not a script
        page.get_by_label("Show").select_option("all")
        page.get_by_label("Severity").select_option("sev-1")
        page.get_by_role("button", name="Apply filters").click()
        expect(page.locator("#board-results tbody tr")).to_have_count(1)
        expect(page.locator("#board-results")).to_contain_text("Checkout latency")
        page.get_by_label("Severity").select_option("")
        page.get_by_label("Show").select_option("open")
        page.get_by_role("button", name="Apply filters").click()
        expect(page.locator("#board-results tbody tr")).to_have_count(2)
        expect(page.locator("#board-counts")).to_contain_text("triage")
        assert unlabelled_controls(page) == []
        shoot(page, "board")

        # A change made through the API appears without a reload (htmx polls the rows).
        page.evaluate("window.stillTheSamePage = true")
        api.post("/incidents.create", json={"title": "Appeared by itself", "severity": "sev-3"}).raise_for_status()
        expect(page.locator("#board-results")).to_contain_text("Appeared by itself", timeout=20_000)
        assert page.evaluate("window.stillTheSamePage") is True

        # Settings: an API token, its secret shown once.
        page.get_by_role("link", name="Settings", exact=True).click()
        page.get_by_label("Name (what it is for)").fill("deploy bot")
        page.get_by_role("button", name="Create token").click()
        expect(page.get_by_label("Your new token (shown once)")).to_have_value(re.compile(r"^idt_"))
        assert unlabelled_controls(page) == []
        shoot(page, "settings")

        # Log out: back to the login page, and the board asks for a login again.
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.goto(incident_url)
        expect(page).to_have_url(re.compile(r"/web/login\?next="))
        page.close()
        api.close()
    assert left_loopback == []
    assert errors == [], errors


def _set_password(directory: Path):
    return subprocess.run(
        [sys.executable, "-m", "incidentd", "user", "set-password", EMAIL, "--password-stdin"],
        cwd=directory,
        env=clean_environment(),
        input=f"{PASSWORD}\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
