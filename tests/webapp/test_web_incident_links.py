"""The incident page's links, merge and PIA / playbook articles, with the API's rules and isolation; CSRF on
each new form; the page's weight with everything on it."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from webpages import csrf_of, logged_in

from conftest import Actor, make_org

EMAIL = "admin@incidentd.local"
HTMX = {"HX-Request": "true"}


@pytest.fixture
async def web(app, client, admin: Actor) -> tuple[httpx.AsyncClient, str]:
    return client, await logged_in(app, client, admin.org, EMAIL)


async def api(client: httpx.AsyncClient, actor: Actor, operation: str, **body: Any) -> dict[str, Any]:
    answer = await client.post(f"/{operation}", json=body, headers=actor.headers)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


async def incident(client: httpx.AsyncClient, actor: Actor, title: str) -> dict[str, Any]:
    return (await api(client, actor, "incidents.create", title=title))["incident"]


async def links_of(client: httpx.AsyncClient, actor: Actor, incident_id: str) -> list[dict[str, Any]]:
    return (await api(client, actor, "links.list", object=incident_id))["links"]


async def test_a_link_is_added_by_display_id_and_listed_both_ways(web, admin: Actor):
    client, csrf = web
    checkout = await incident(client, admin, "Checkout is down")
    payments = await incident(client, admin, "Payments time out")
    answer = await client.post(
        f"/web/incident/{checkout['display_id']}/links",
        data={"csrf_token": csrf, "link_type": "is_related_to", "target": payments["display_id"]},
        headers=HTMX,
    )
    assert answer.status_code == 200, answer.text
    assert re.search(
        r'This incident is related to\s*<a href="/web/incidents/INC-2">INC-2 Payments time out</a>', answer.text
    )
    [link] = await links_of(client, admin, checkout["id"])
    assert link["link_type"] == "is_related_to" and link["created_by"]["id"] == admin.don
    other_side = (await client.get(f"/web/incidents/{payments['display_id']}")).text
    assert re.search(
        r'<a href="/web/incidents/INC-1">INC-1 Checkout is down</a>\s*is related to this incident', other_side
    )
    # The change event on the timeline says so.
    assert "linked INC-1 Checkout is down is related to INC-2 Payments time out" in other_side
    # Removed again.
    removed = await client.post(
        f"/web/incident/{payments['display_id']}/links/delete",
        data={"csrf_token": csrf, "link": link["id"]},
        headers=HTMX,
    )
    assert removed.status_code == 200 and await links_of(client, admin, checkout["id"]) == []
    assert "removed a link" in removed.text


async def test_link_errors_are_the_apis_next_to_the_field(web, admin: Actor):
    client, csrf = web
    checkout = await incident(client, admin, "Checkout is down")
    for target, message in (("INC-99", "does not exist"), (checkout["display_id"], "same"), ("", "name the incident")):
        answer = await client.post(
            f"/web/incident/{checkout['display_id']}/links",
            data={"csrf_token": csrf, "link_type": "is_duplicate_of", "target": target},
            headers=HTMX,
        )
        assert answer.status_code == 400, target
        assert re.search(rf'id="link_target-error"[^>]*>[^<]*{message}', answer.text), answer.text[-3000:]
        assert 'aria-describedby="link_target-error"' in answer.text
    bad_type = await client.post(
        f"/web/incident/{checkout['display_id']}/links",
        data={"csrf_token": csrf, "link_type": "imports", "target": "INC-1"},
        headers=HTMX,
    )
    assert bad_type.status_code == 400 and 'id="link_type-error"' in bad_type.text


async def test_merge_needs_confirmation_then_closes_the_incident_as_a_duplicate(web, admin: Actor):
    client, csrf = web
    checkout = await incident(client, admin, "Checkout is down")
    again = await incident(client, admin, "Checkout down again")
    page = (await client.get(f"/web/incidents/{again['display_id']}")).text
    assert '<option value="INC-1">INC-1 Checkout is down</option>' in page
    assert '<option value="INC-2">' not in page  # not into itself
    unconfirmed = await client.post(
        f"/web/incident/{again['display_id']}/merge", data={"csrf_token": csrf, "target": "INC-1"}, headers=HTMX
    )
    assert unconfirmed.status_code == 400
    assert re.search(r'id="merge_confirm-error"[^>]*>[^<]*tick the box', unconfirmed.text)
    assert (await api(client, admin, "incidents.get", id=again["id"]))["incident"]["stage"]["stage"][
        "name"
    ] != "duplicate"
    merged = await client.post(
        f"/web/incident/{again['display_id']}/merge",
        data={"csrf_token": csrf, "target": "INC-1", "confirm": "yes"},
        headers=HTMX,
    )
    assert merged.status_code == 200 and merged.headers["hx-redirect"] == f"/web/incidents/{again['display_id']}"
    source = (await api(client, admin, "incidents.get", id=again["id"]))["incident"]
    assert source["stage"]["stage"]["name"] == "duplicate"
    page = (await client.get(f"/web/incidents/{again['display_id']}")).text
    assert re.search(r'Merged into <a href="/web/incidents/INC-1">INC-1 Checkout is down</a>', page)
    assert 'id="merge_target"' not in page  # merged once only
    target_page = (await client.get(f"/web/incidents/{checkout['display_id']}")).text
    assert re.search(r"INC-2 Checkout down again</a>\s*is merged into this incident", target_page)
    # Merging into an incident that is merged itself: the API's error, next to the select.
    third = await incident(client, admin, "Third")
    refused = await client.post(
        f"/web/incident/{third['display_id']}/merge",
        data={"csrf_token": csrf, "target": again["display_id"], "confirm": "yes"},
        headers=HTMX,
    )
    assert refused.status_code == 400
    assert re.search(r'id="merge_target-error"[^>]*>[^<]*merge into INC-1 instead', refused.text)


async def test_pia_and_playbook_articles_are_shown_and_edited_in_place(app, web, admin: Actor):
    client, csrf = web
    created = await incident(client, admin, "Checkout is down")
    review = (
        await api(
            client,
            admin,
            "articles.create",
            title="Checkout review",
            owned_by=[admin.don],
            resource={"url": "https://wiki.example.com/review"},
        )
    )["article"]
    runbook = (await api(client, admin, "articles.create", title="<b>Runbook</b>", owned_by=[admin.don], resource={}))[
        "article"
    ]
    bad = (
        await api(
            client, admin, "articles.create", title="Sneaky", owned_by=[admin.don], resource={"url": "https://x.test/"}
        )
    )["article"]
    page = (await client.get(f"/web/incidents/{created['display_id']}")).text
    assert '<label for="edit-pia">PIA articles</label>' in page
    assert '<label for="edit-playbooks">Playbook articles</label>' in page
    for name, article in (("pia", review), ("playbooks", runbook)):
        answer = await client.post(
            f"/web/incident/{created['display_id']}/fields/{name}",
            data={"csrf_token": csrf, "value": article["id"]},
            headers=HTMX,
        )
        assert answer.status_code == 200, answer.text
    shown = (await api(client, admin, "incidents.get", id=created["id"]))["incident"]
    assert [a["id"] for a in shown["pia"]] == [review["id"]]
    assert [a["id"] for a in shown["playbooks"]] == [runbook["id"]]
    page = (await client.get(f"/web/incidents/{created['display_id']}")).text
    assert '<a href="https://wiki.example.com/review" rel="noopener noreferrer">Checkout review</a>' in page
    assert "&lt;b&gt;Runbook&lt;/b&gt;" in page and "<b>Runbook</b>" not in page
    assert re.search(r"PIA</span>: <span class=\"old\">\(none\)</span>.*?Checkout review", page)
    assert bad["id"]  # offered, not linked
    # An article of another org is the API's error, next to the field.
    other = await make_org(app, "acme")
    theirs = (await api(client, other, "articles.create", title="Theirs", owned_by=[other.don], resource={}))["article"]
    refused = await client.post(
        f"/web/incident/{created['display_id']}/fields/pia",
        data={"csrf_token": csrf, "value": theirs["id"]},
        headers=HTMX,
    )
    assert refused.status_code == 400 and 'id="pia-error"' in refused.text


async def test_another_orgs_incident_cannot_be_linked_or_merged(app, web, admin: Actor):
    client, csrf = web
    other = await make_org(app, "acme")
    theirs = await incident(client, other, "Their secret")
    their_other = await incident(client, other, "Their other")
    ours = await incident(client, admin, "Ours")
    link = (
        await api(
            client, other, "links.create", link_type="is_related_to", source=theirs["id"], target=their_other["id"]
        )
    )["link"]
    for path, data in (
        (f"/web/incident/{theirs['id']}/links", {"link_type": "is_related_to", "target": ours["display_id"]}),
        (f"/web/incident/{theirs['id']}/links/delete", {"link": link["id"]}),
        (f"/web/incident/{ours['display_id']}/links/delete", {"link": link["id"]}),
        (f"/web/incident/{theirs['id']}/merge", {"target": ours["display_id"], "confirm": "yes"}),
    ):
        answer = await client.post(path, data={"csrf_token": csrf, **data}, headers=HTMX)
        assert answer.status_code == 404, path
        assert "Their secret" not in answer.text
    # Their incident as the target: named by its DON, it does not exist for us (the API's 400, next to the field).
    into_theirs = await client.post(
        f"/web/incident/{ours['display_id']}/merge",
        data={"csrf_token": csrf, "target": theirs["id"], "confirm": "yes"},
        headers=HTMX,
    )
    assert into_theirs.status_code == 400 and "does not exist" in into_theirs.text
    assert len(await links_of(client, other, theirs["id"])) == 1
    assert (await api(client, other, "incidents.get", id=theirs["id"]))["incident"]["stage"]["stage"][
        "name"
    ] == "triage"


async def test_a_member_links_and_merges_as_the_api_lets_a_member(app, client, admin: Actor, member: Actor):
    csrf = await logged_in(app, client, member.org, "member@incidentd.local")
    first = await incident(client, admin, "First")
    second = await incident(client, admin, "Second")
    linked = await client.post(
        f"/web/incident/{first['display_id']}/links",
        data={"csrf_token": csrf, "link_type": "is_related_to", "target": second["display_id"]},
    )
    assert linked.status_code == 303
    [link] = await links_of(client, admin, first["id"])
    assert link["created_by"]["id"] == member.don
    merged = await client.post(
        f"/web/incident/{second['display_id']}/merge",
        data={"csrf_token": csrf, "target": first["display_id"], "confirm": "yes"},
    )
    assert merged.status_code == 303
    assert (await api(client, admin, "incidents.get", id=second["id"]))["incident"]["modified_by"]["id"] == member.don


async def test_every_new_form_refuses_a_post_without_its_csrf_token(web, admin: Actor):
    client, csrf = web
    first = await incident(client, admin, "First")
    second = await incident(client, admin, "Second")
    display = first["display_id"]
    for path, data in (
        (f"/web/incident/{display}/links", {"link_type": "is_related_to", "target": second["display_id"]}),
        (f"/web/incident/{display}/links/delete", {"link": "x"}),
        (f"/web/incident/{display}/merge", {"target": second["display_id"], "confirm": "yes"}),
        (f"/web/incident/{display}/fields/pia", {"value": ""}),
        (f"/web/incident/{display}/fields/playbooks", {"value": ""}),
    ):
        assert (await client.post(path, data=data)).status_code == 403, path
        wrong = await client.post(path, data={**data, "csrf_token": csrf[:-2] + "xx"}, headers=HTMX)
        assert wrong.status_code == 403, path
    assert await links_of(client, admin, first["id"]) == []
    assert (await api(client, admin, "incidents.get", id=first["id"]))["incident"]["stage"]["stage"]["name"] == "triage"


async def test_the_full_incident_page_stays_under_100_kb_and_labels_every_control(web, admin: Actor):
    client, csrf = web
    for index in range(60):
        await incident(client, admin, f"Other incident {index:02d} with a longish title to weigh the page")
    created = await incident(client, admin, "Heavy")
    for _ in range(30):
        await api(
            client, admin, "timeline-entries.create", type="timeline_comment", object=created["id"], body="x" * 500
        )
    await api(client, admin, "incidents.update", id=created["id"], body="y" * 2000)
    page = await client.get(f"/web/incidents/{created['display_id']}")
    assert page.status_code == 200
    assert len(page.content) < 100_000, len(page.content)
    controls = re.findall(r"<(?:input|select|textarea)\b[^>]*>", page.text)
    for control in controls:
        if 'type="hidden"' in control:
            continue
        control_id = re.search(r'id="([^"]+)"', control)
        assert control_id and f'<label for="{control_id.group(1)}">' in page.text, control
    assert csrf_of(page.text) == csrf
