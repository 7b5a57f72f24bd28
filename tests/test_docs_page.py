"""/docs renders on a machine without internet: its page and every file it loads come from incidentd itself."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from first_run import served

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


async def test_the_docs_page_loads_only_files_that_incidentd_serves(client):
    page = await client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert len(assets) == 4  # stylesheet, favicon, Swagger UI and its standalone preset
    for asset in assets:
        assert asset.startswith("/docs/static/"), asset
        answer = await client.get(asset)  # no token: the docs are public
        assert answer.status_code == 200, asset
        assert answer.headers["content-type"].split("/")[0] in ("text", "image"), asset
        assert len(answer.content) > 500, asset


@pytest.mark.browser
def test_the_docs_page_renders_in_chromium_with_the_network_off(tmp_path: Path):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: install chromium (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import Route, sync_playwright

    left_loopback: list[str] = []

    def loopback_only(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost", "::1"):
            route.continue_()
        else:
            left_loopback.append(route.request.url)
            route.abort("internetdisconnected")

    with served(tmp_path) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            page.route("**/*", loopback_only)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{server.url}/docs", wait_until="load")
            # The operation blocks Swagger UI draws from the document (the DOM id is tag + operation id).
            create = page.locator("#operations-incidents-incidents-create")
            create.wait_for(state="visible", timeout=60_000)
            assert "/incidents.create" in create.inner_text()
            assert page.locator(".opblock").count() > 50
            assert page.locator(".swagger-ui .info .title").inner_text().startswith("incidentd")
        finally:
            browser.close()
    assert left_loopback == []
    assert errors == []
