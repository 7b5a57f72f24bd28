"""A responder's whole incident in a real browser (Debian's Chromium through Playwright, loopback only): log in,
declare, comment with markdown and an attachment, move through the stages with the stage buttons, filter the
board, see an API change appear without a reload, merge two incidents (with the keyboard), log out. Screenshots
of the incident page, timeline included, at 1440 and 375 px go to INCIDENTD_SCREENSHOTS (default
build/screenshots), as incident-timeline-<width>.png."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from test_web_browser import EMAIL, PASSWORD, _set_password, browser, shoot, unlabelled_controls

from first_run import served

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with the other browser test


def test_a_responder_comments_attaches_moves_and_merges_in_the_browser(tmp_path: Path, browser) -> None:
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

        # Log in with the keyboard.
        page.goto(f"{server.url}/")
        page.keyboard.type(EMAIL)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()

        # Declare.
        page.get_by_role("link", name="Declare", exact=True).click()
        expect(page.get_by_label("Title")).to_be_focused()
        page.keyboard.type("Checkout latency over 5 s")
        page.get_by_label("Severity").select_option("sev-1")
        page.get_by_label("Title").press("Enter")
        expect(page.locator("h1")).to_contain_text("Checkout latency over 5 s")
        display_id = page.url.rsplit("/", 1)[1]
        page.evaluate("window.stillTheSamePage = true")

        # Comment with markdown and an attachment: htmx posts the multipart form and the comment appears on top.
        page.get_by_label("Comment (markdown)").fill("Rolled back **v2.3**; graph attached.\n\n<b>raw</b>")
        page.get_by_label("Attach files").set_input_files(
            {"name": "p99.txt", "mimeType": "text/plain", "buffer": b"p99 = 5.2 s\n"}
        )
        page.get_by_role("button", name="Add comment").click()
        newest = page.locator("ol.timeline > li").first
        expect(newest.locator(".markdown strong")).to_have_text("v2.3")
        expect(newest).to_contain_text("<b>raw</b>")  # raw HTML stays text
        attachment = newest.get_by_role("link", name="p99.txt")
        expect(attachment).to_be_visible()
        expect(page.get_by_label("Comment (markdown)")).to_have_value("")
        assert page.evaluate("window.stillTheSamePage") is True
        downloaded = page.request.get(f"{server.url}{attachment.get_attribute('href')}")
        assert downloaded.status == 200 and downloaded.body() == b"p99 = 5.2 s\n"

        # The stage buttons; each move appears on the timeline as a delta, without a reload.
        for stage in ("acknowledged", "fixing", "mitigated"):
            page.get_by_role("button", name=f"Move to {stage}").click()
            expect(page.get_by_role("heading", name=f"Stage: {stage}")).to_be_visible()
        expect(page.locator("ol.timeline > li").first).to_contain_text("fixing")
        expect(page.locator("ol.timeline > li").first).to_contain_text("mitigated")
        assert page.evaluate("window.stillTheSamePage") is True
        assert unlabelled_controls(page) == []
        shoot(page, "incident-timeline")
        page.get_by_role("button", name="Move to resolved").click()
        expect(page.get_by_role("heading", name="Stage: resolved")).to_be_visible()

        # The board, filtered.
        search = api.post("/incidents.create", json={"title": "Search is slow", "severity": "sev-2"})
        search.raise_for_status()
        page.get_by_role("link", name="Board", exact=True).click()
        page.get_by_label("Show").select_option("all")
        page.get_by_label("Severity").select_option("sev-1")
        page.get_by_role("button", name="Apply filters").click()
        expect(page.locator("#board-results tbody tr")).to_have_count(1)
        expect(page.locator("#board-results")).to_contain_text("Checkout latency")
        page.get_by_label("Severity").select_option("")
        page.get_by_label("Show").select_option("open")
        page.get_by_role("button", name="Apply filters").click()
        expect(page.locator("#board-results tbody tr")).to_have_count(1)

        # A change made meanwhile through the API appears without a reload (the board polls its rows).
        page.evaluate("window.stillTheSamePage = true")
        appeared = api.post("/incidents.create", json={"title": "Search down again", "severity": "sev-2"})
        appeared.raise_for_status()
        expect(page.locator("#board-results")).to_contain_text("Search down again", timeout=20_000)
        assert page.evaluate("window.stillTheSamePage") is True

        # Merge the new one into "Search is slow", with the keyboard: choose, tick the confirmation, Enter.
        page.get_by_role("link", name="Search down again").click()
        target = search.json()["incident"]["display_id"]
        page.get_by_label("Merge into", exact=True).select_option(target)
        page.get_by_label("Merge into", exact=True).press("Tab")
        page.keyboard.press("Space")
        expect(page.get_by_label(re.compile("Yes, close"))).to_be_checked()
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Stage: duplicate")).to_be_visible()
        expect(page.locator("#links")).to_contain_text(f"Merged into {target} Search is slow")
        page.get_by_role("link", name=f"{target} Search is slow").first.click()
        expect(page.locator("#links")).to_contain_text("is merged into this incident")

        # Log out.
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.goto(f"{server.url}/web/incidents/{display_id}")
        expect(page).to_have_url(re.compile(r"/web/login\?next="))
        page.close()
        api.close()
    assert left_loopback == []
    assert errors == [], errors
