"""The insights page: charts and tables from incidents.metrics under the board's filters, a range selector, and
a friendly empty state for an org without incidents."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from webpages import logged_in

from conftest import Actor, make_org
from incidentd.webapp import insights_pages

EMAIL = "admin@incidentd.local"


@pytest.fixture
async def web(app, client, admin: Actor) -> httpx.AsyncClient:
    await logged_in(app, client, admin.org, EMAIL)
    return client


async def api(client: httpx.AsyncClient, actor: Actor, operation: str, **body) -> dict:
    answer = await client.post(f"/{operation}", json=body, headers=actor.headers)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def test_weeks_start_on_monday_and_end_with_the_current_one():
    starts = insights_pages.week_starts(3, datetime(2026, 12, 6, 15, 30, tzinfo=UTC))  # a Sunday
    assert [start.strftime("%Y-%m-%d") for start in starts] == ["2026-11-16", "2026-11-23", "2026-11-30"]


async def test_an_org_without_incidents_gets_a_friendly_empty_state(web):
    answer = await web.get("/web/insights")
    assert answer.status_code == 200
    assert "Nothing to chart yet" in answer.text and "<svg" not in answer.text
    assert 'aria-current="page">Insights' in answer.text


async def test_charts_and_tables_show_this_weeks_incidents_by_severity_stage_and_part(web, admin: Actor):
    part = (await api(web, admin, "parts.create", name="Checkout <api>", type="product", owned_by=[admin.don]))["part"]
    first = await api(web, admin, "incidents.create", title="a", severity="sev-0", applies_to_parts=[part["id"]])
    await api(web, admin, "incidents.create", title="b", severity="sev-0")
    await api(web, admin, "incidents.create", title="c", severity="sev-2")
    await api(web, admin, "incidents.update", id=first["incident"]["id"], stage="acknowledged")
    answer = await web.get("/web/insights?weeks=4")
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert page.count('<svg class="chart"') == 6  # per week, three durations, by stage, by part
    assert '<option value="4" selected>' in page
    this_week = insights_pages.week_starts(1, datetime.now(UTC))[0].strftime("%Y-%m-%d")
    row = re.search(rf'<th scope="row">{this_week}</th>(.*?)</tr>', page, re.S).group(1)
    assert re.findall(r"<td[^>]*>(\d+)</td>", row) == ["2", "1", "3"]  # sev-0, sev-2, total
    assert re.search(r'<th scope="row">triage</th><td[^>]*>2</td>', page)
    assert re.search(r'<th scope="row">acknowledged</th><td[^>]*>1</td>', page)
    assert "Checkout &lt;api&gt;" in page and "<api>" not in page  # a part's name is text
    assert re.search(r'<th scope="row">no part</th><td[^>]*>2</td>', page)
    assert "Time to acknowledge: median" in page
    assert len(answer.content) < 100_000  # the page weight budget


async def test_the_boards_filters_narrow_every_chart(web, admin: Actor):
    await api(web, admin, "incidents.create", title="a", severity="sev-0")
    await api(web, admin, "incidents.create", title="b", severity="sev-3")
    answer = await web.get("/web/insights?weeks=12&severity=sev-3")
    assert answer.status_code == 200
    assert '<th scope="col">sev-0</th>' not in answer.text and '<th scope="col">sev-3</th>' in answer.text
    assert re.search(r'<th scope="row">triage</th><td[^>]*>1</td>', answer.text)
    unknown_range = await web.get("/web/insights?weeks=9999")
    assert '<option value="12" selected>' in unknown_range.text


async def test_another_orgs_incidents_are_never_counted(app, web, admin: Actor):
    other = await make_org(app, "acme")
    await api(web, other, "incidents.create", title="theirs", severity="sev-0")
    answer = await web.get("/web/insights")
    assert "Nothing to chart yet" in answer.text


async def test_insights_need_a_login(client):
    answer = await client.get("/web/insights")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/web/login?next=%2Fweb%2Finsights")


async def test_a_year_of_seeded_incidents_charts_in_under_100_kb(app, web):
    from incidentd.seed.service import seed

    await seed(app.state.db, count=3_000, batch=3_000, rng_seed=1)
    answer = await web.get("/web/insights?weeks=52")
    assert answer.status_code == 200
    page = answer.text
    assert page.count('<svg class="chart"') == 6
    assert all(f'<th scope="col">{label}</th>' in page for label in ("sev-0", "sev-1", "sev-2", "sev-3"))
    assert len(re.findall(r'<th scope="row">\d{4}-\d\d-\d\d</th>', page)) >= 52 + 40  # weeks, and their durations
    assert len(answer.content) < 100_000, len(answer.content)
