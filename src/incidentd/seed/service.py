"""Realistic data for an org: people, parts, tags, customers, runbooks, and many incidents over two years,
spread over severities, stages, owners, parts, tags and custom fields as a busy SRE team would have them.

The supporting objects go through their domain services (their rules apply); incidents are written in bulk
(thousands per statement), with the stage rules' dates filled in consistently."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from incidentd.accounts import schemas as account_schemas
from incidentd.accounts import service as accounts
from incidentd.articles import schemas as article_schemas
from incidentd.articles import service as articles
from incidentd.customization import schemas as custom_schemas
from incidentd.customization import service as customization
from incidentd.db import Database
from incidentd.errors import BadRequestError
from incidentd.identity import service as identity
from incidentd.incidents import documents
from incidentd.incidents import repository as incidents_repository
from incidentd.kit import counters
from incidentd.kit.time import now_ms
from incidentd.parts import schemas as part_schemas
from incidentd.parts import service as parts
from incidentd.principal import ADMIN, OrgScope, Principal
from incidentd.search import service as search
from incidentd.seed import repository
from incidentd.sqlite_inline import off_loop
from incidentd.tags import schemas as tag_schemas
from incidentd.tags import service as tags

DAY_MS = 86_400_000
SPAN_MS = 730 * DAY_MS  # two years
SEVERITY_WEIGHTS = {1: 5, 2: 15, 3: 40, 4: 35, None: 5}
STAGE_WEIGHTS = {
    "triage": 6,
    "acknowledged": 4,
    "fixing": 4,
    "mitigated": 3,
    "resolved": 70,
    "canceled": 8,
    "duplicate": 5,
}
SERVICES = ["checkout", "payments", "search", "auth", "notifications", "ingest", "billing", "api-gateway"]
SYMPTOMS = [
    "elevated 5xx rate",
    "latency above SLO",
    "queue backlog",
    "failed deploy",
    "certificate expiry",
    "database failover",
    "partial outage",
    "data inconsistency",
    "memory leak",
    "DNS resolution errors",
]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1"]


@dataclass
class World:
    """The numbers of the org's supporting objects that seeded incidents point at."""

    users: list[int] = field(default_factory=list)
    fragment: int = 0  # the tenant fragment declaring the seeded custom fields
    parts: list[int] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)
    accounts: list[int] = field(default_factory=list)
    articles: list[int] = field(default_factory=list)


async def _principal(db: Database, org_slug: str | None) -> Principal:
    async with db.read() as conn:
        org = await identity.find_org(conn, db.settings.don_partition, org_slug)
        admin = await repository.first_dev_user(conn, org.dev_org_id)
    if admin is None:
        raise BadRequestError(f"org '{org.slug}' has no dev user to seed as")
    return Principal(org, admin, "dev_user", role=ADMIN)  # the operator seeds: it may set the schema


async def build_world(db: Database, principal: Principal, rng: random.Random) -> World:
    """People, a product tree, tags, customers and runbooks, created through their services."""
    world = World(users=[principal.user_number])
    org = principal.org
    async with db.write() as conn:
        for index in range(24):
            row = await identity.create_user(
                conn,
                org,
                email=f"sre{index}.{rng.randrange(10**6)}@seed.incidentd.local",
                full_name=f"SRE {index}",
                created_by=principal.user_number,
            )
            world.users.append(row.number)
    fragment = await customization.set_fragment(
        db,
        principal,
        custom_schemas.CustomSchemaFragmentsSetRequest(
            type="tenant_fragment",
            description="Fields of seeded incidents",
            leaf_type="incident",
            fields=[
                custom_schemas.FieldDescriptor(name="region", field_type="text", is_filterable=True),
                custom_schemas.FieldDescriptor(name="service", field_type="text", is_filterable=True),
            ],
        ),
    )
    world.fragment = _number(fragment)
    owner = [org.don("dev_user", principal.user_number)]
    for service_name in SERVICES:
        product = await parts.create(
            db, principal, part_schemas.PartsCreateRequest(type="product", name=service_name, owned_by=owner)
        )
        world.parts.append(_number(product.id))
        for capability in ("api", "workers"):
            made = await parts.create(
                db,
                principal,
                part_schemas.PartsCreateRequest(
                    type="capability", name=f"{service_name} {capability}", owned_by=owner, parent_part=[product.id]
                ),
            )
            world.parts.append(_number(made.id))
    for name in [
        "customer-facing",
        "regression",
        "third-party",
        "security",
        "capacity",
        "config-change",
        "postmortem-needed",
        "on-call",
        "flaky-alert",
        "data-loss",
        *REGIONS,
    ]:
        made_tag = await tags.create(
            db, principal, tag_schemas.TagsCreateRequest(name=f"{name}-{rng.randrange(10**6)}")
        )
        world.tags.append(_number(made_tag.id))
    for index in range(40):
        account = await accounts.create(
            db, principal, account_schemas.AccountsCreateRequest(display_name=f"Customer {index}")
        )
        world.accounts.append(_number(account.account.id))
    for index in range(12):
        article = await articles.create(
            db,
            principal,
            article_schemas.ArticlesCreateRequest(
                title=f"Runbook {index}: {rng.choice(SYMPTOMS)}",
                owned_by=owner,
                resource=article_schemas.ArticlesCreateRequestResource(url=f"https://wiki.example/runbooks/{index}"),
            ),
        )
        world.articles.append(_number(article.id))
    return world


def _number(don: str) -> int:
    return int(don.rsplit("/", 1)[1])


def _weighted(rng: random.Random, weights: dict[Any, int], count: int) -> list[Any]:
    return rng.choices(list(weights), weights=list(weights.values()), k=count)


def incident_rows(
    org: OrgScope,
    first: int,
    count: int,
    world: World,
    stages: dict[str, tuple[int, bool]],
    rng: random.Random,
    now: int,
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """`count` incidents numbered from `first`, and their link rows."""
    rows: list[dict[str, Any]] = []
    links: dict[str, list[dict[str, Any]]] = {name: [] for name in repository.LINK_TABLES}
    # Weighted draws for the whole batch at once: far cheaper than one `choices` call per incident.
    severities = _weighted(rng, SEVERITY_WEIGHTS, count)
    stage_names = _weighted(rng, STAGE_WEIGHTS, count)
    for offset, number in enumerate(range(first, first + count)):
        created = now - rng.randrange(SPAN_MS)
        stage_name = stage_names[offset]
        stage_number, is_final = stages[stage_name]
        acknowledged = created + rng.randrange(60_000, 3_600_000) if stage_name != "triage" else None
        mitigated = (
            acknowledged + rng.randrange(300_000, 6 * 3_600_000)
            if acknowledged and stage_name in ("mitigated", "resolved")
            else None
        )
        closed = (mitigated or acknowledged or created) + rng.randrange(60_000, 2 * DAY_MS) if is_final else None
        modified = max(filter(None, (created, acknowledged, mitigated, closed)))
        author = rng.choice(world.users)
        service_name = rng.choice(SERVICES)
        rows.append(
            {
                "dev_org_id": org.dev_org_id,
                "number": number,
                "title": f"{service_name}: {rng.choice(SYMPTOMS)}",
                "body": f"Seeded incident {number} on {service_name}.",
                "severity": severities[offset],
                "reported_by": rng.choice((1, 2, 3, None)),
                "source": None,
                "stage_number": stage_number,
                "subtype": None,
                "identified_date": created - rng.randrange(0, 1_800_000),
                "acknowledged_date": acknowledged,
                "mitigated_date": mitigated,
                "target_close_date": created + rng.randrange(DAY_MS, 14 * DAY_MS) if rng.random() < 0.3 else None,
                "actual_close_date": closed,
                "impact_count": rng.choice((1, 2, 3, 4)) if rng.random() < 0.4 else None,
                "is_staged": False,
                "custom_fields": (custom := {"tnt__region": rng.choice(REGIONS), "tnt__service": service_name}),
                "custom_schema_fragments": [world.fragment],
                "created_by": author,
                "created_date": created,
                "modified_by": rng.choice(world.users),
                "modified_date": modified,
            }
        )
        links["custom_values"] += incidents_repository.custom_value_rows(org.dev_org_id, number, custom)
        _link(links["owners"], org, number, "user_number", rng.sample(world.users, rng.choice((1, 1, 2))))
        _link(links["parts"], org, number, "part_number", rng.sample(world.parts, rng.choice((1, 1, 2))))
        _link(links["tags"], org, number, "tag_number", rng.sample(world.tags, rng.choice((0, 1, 2, 3))))
        if rng.random() < 0.4:
            _link(links["customers"], org, number, "account_number", rng.sample(world.accounts, rng.randint(1, 3)))
        if rng.random() < 0.2:
            _link(links["articles"], org, number, "article_number", [rng.choice(world.articles)], role="playbooks")
    return rows, links


def _link(
    target: list[dict[str, Any]], org: OrgScope, number: int, column: str, values: list[int], role: str | None = None
) -> None:
    for position, value in enumerate(values):
        row: dict[str, Any] = {
            "dev_org_id": org.dev_org_id,
            "incident_number": number,
            "position": position,
            column: value,
        }
        if role is not None:
            row["role"] = role
        target.append(row)


async def seed(
    db: Database,
    *,
    count: int,
    org_slug: str | None = None,
    batch: int = 5_000,
    rng_seed: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Add `count` incidents (and, the first time, the objects they point at) to an org; returns the count."""
    rng = random.Random(rng_seed)
    principal = await _principal(db, org_slug)
    org = principal.org
    world = await build_world(db, principal, rng)
    async with db.read() as conn:
        diagram = await customization.load_diagram(conn, org, "incident", None)
    stages = {stage.name: (stage.number, stage.is_final) for stage in diagram.stages.values()}
    now = now_ms()
    async with db.write() as conn:
        first = await counters.allocate(conn, org.dev_org_id, "incident", count)

    async def write(rows: list[dict[str, Any]], links: dict[str, list[dict[str, Any]]]) -> None:
        async with db.write(alone=True) as conn:
            await repository.insert_incidents(conn, rows, links)
            with off_loop():
                await search.refresh(db, conn, org.dev_org_id, [row["number"] for row in rows], new=True)
        if progress is not None:
            progress(len(rows))

    # Generate the next batch while the database writes the previous one (in a worker thread).
    writing: asyncio.Task[None] | None = None
    for start in range(0, count, batch):
        rows, links = incident_rows(org, first + start, min(batch, count - start), world, stages, rng, now)
        if writing is not None:
            await writing
        writing = asyncio.create_task(write(rows, links))
    if writing is not None:
        await writing
    # Seeded rows are written in bulk, without their answers: store them, as creates through the API do.
    await documents.refresh(db, org)
    async with db.write() as conn:
        await repository.refresh_statistics(conn)
    return count
