"""The `incidentd` command: serve, db upgrade, org / user / token administration, worker and seed (backup,
restore, export and import are in cli_data)."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from typing import Any

import typer

from incidentd import cli_data
from incidentd import db as database
from incidentd.cli_support import (
    DatabaseOption,
    OrgOption,
    command_group,
    command_settings,
    org_scope,
    run_with_database,
)
from incidentd.config import Settings
from incidentd.identity import service as identity
from incidentd.kit import ids
from incidentd.kit.time import to_rfc3339
from incidentd.principal import ADMIN

app = command_group("incidentd: a self-hosted incident server that speaks DevRev's Incidents API.")
db_app = command_group("Database schema.")
org_app = command_group("Dev orgs.")
user_app = command_group("Users: dev users, service accounts, sys users.")
token_app = command_group("API tokens.")
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


def _print_token(settings: Settings, secret: str, *, server_starts: bool = False) -> None:
    typer.echo("")
    typer.secho("An API token for the admin dev user (shown once, store it now):", bold=True)
    typer.echo(f"  {secret}")
    typer.echo("Try it:" if server_starts else "Try it while `incidentd serve` runs:")
    url = client_url(settings.host, settings.port or "PORT")  # --port 0: the port is printed once it is bound
    typer.echo(f'  curl -H "Authorization: Bearer {secret}" {url}/dev-users.self')
    typer.echo("")


def _print_bootstrap(settings: Settings, created: identity.Bootstrap, *, server_starts: bool = False) -> None:
    """What the first command on an empty database made: the default org, its admin and the admin's token, whose
    secret is shown this once (the database keeps only its hash)."""
    typer.echo(f"Created dev org '{created.org.slug}' ({created.org.org_don}) and its admin dev user.")
    _print_token(settings, created.token.secret, server_starts=server_starts)


def http_url(host: str, port: int | str) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def client_url(host: str, port: int | str) -> str:
    """The URL at which a client on this machine reaches a server that listens on host:port."""
    loopback = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # every interface: loopback is one of them
    return http_url(loopback.get(host, host), port)


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default 8080)."),
    workers: int = typer.Option(None, help="Worker processes on the one port (default 1)."),
    database_url: str = DatabaseOption,
    log_format: str = typer.Option(None, help="console or json."),
    shutdown_timeout: float = typer.Option(
        None, help="Seconds requests in flight get to finish after SIGTERM / Ctrl-C (default 30)."
    ),
) -> None:
    """Migrate the embedded database if needed, bootstrap an empty one, and serve the API."""
    settings = command_settings(
        host=host,
        port=port,
        workers=workers,
        database_url=database_url,
        log_format=log_format,
        shutdown_timeout_seconds=shutdown_timeout,
    )

    async def prepare(db: database.Database) -> identity.Bootstrap | None:
        if settings.migrate_on_start:
            await database.upgrade(db.engine)
        elif not await database.is_at_head(db.engine):
            typer.secho("error: the database schema is not current; run `incidentd db upgrade`", fg="red", err=True)
            raise typer.Exit(1)
        return await identity.bootstrap(db, admin_email=settings.bootstrap_admin_email)

    created = run_with_database(settings, prepare)
    if created is not None:  # printed before the server starts: a port in use must not lose the token
        _print_bootstrap(settings, created, server_starts=True)
    config = server_config(settings)
    if not run_server(config):
        raise typer.Exit(3)  # uvicorn's own exit code for a failed startup


def server_config(settings: Settings) -> Any:
    """uvicorn's configuration of `incidentd serve`."""
    import uvicorn

    from incidentd import serving

    return uvicorn.Config(
        "incidentd.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        # uvloop that accepts every waiting connection, and httptools fed a bounded request head: serving.py.
        loop=serving.loop_factory(settings.event_loop),
        http=serving.BoundedHttpToolsProtocol,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        log_level="warning",
        access_log=False,
        # On SIGTERM each worker stops accepting, lets requests in flight finish (their transactions commit and
        # their answers are sent) for up to this long, then cancels the rest and closes the database.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_seconds),
    )


def run_server(config: Any) -> bool:
    """Serve a uvicorn config until stopped, in `config.workers` processes; False if a single server failed to
    start."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                announce([sock for server in self.servers for sock in server.sockets])

    if config.workers == 1:
        server = AnnouncingServer(config)
        server.run()
        return bool(server.started)
    sock = listening_socket(config)
    sock.listen(config.backlog)  # connections queue from now on, before the workers start accepting
    announce([sock], config.workers)
    Multiprocess(config, sockets=[sock]).run()
    return True


def announce(sockets: list[socket.socket], workers: int = 1) -> None:
    """Say where the server listens: the addresses bound, so that `--port 0` shows the port it got."""
    addresses = ", ".join(http_url(*sock.getsockname()[:2]) for sock in sockets)
    typer.echo(f"incidentd listening on {addresses}" + (f" ({workers} workers)" if workers > 1 else ""))


def listening_socket(config: Any) -> socket.socket:
    """The socket the workers share, with TCP_NODELAY set on it (Linux passes it on to accepted connections).

    uvicorn hands this socket to its workers through multiprocessing, which loses its protocol number; asyncio then
    no longer sets TCP_NODELAY on the connections the workers accept, and every answer written in two parts waited
    40 ms for the client's delayed ACK (measured: 1,450 instead of 5,600 requests/s with two workers).
    """
    sock: socket.socket = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head"), database_url: str = DatabaseOption) -> None:
    """Apply the migrations up to REVISION (default: head)."""
    settings = command_settings(database_url=database_url)
    run_with_database(settings, lambda db: database.upgrade(db.engine, revision))
    typer.echo(f"database at {revision}")


@db_app.command("reindex-search")
def db_reindex_search(database_url: str = DatabaseOption) -> None:
    """Rebuild the full-text index of every incident (incidents.search), in one transaction: after changing
    INCIDENTD_SEARCH_LANGUAGE on PostgreSQL. Writes wait meanwhile; searches answer from the old index."""
    from incidentd.search import service as search

    settings = command_settings(database_url=database_url)
    count = run_with_database(settings, search.rebuild)
    typer.echo(f"search index rebuilt: {count} incidents")


@db_app.command("refresh-documents")
def db_refresh_documents(
    org: str = typer.Option(None, "--org", help="Only this org (slug); default: every org."),
    database_url: str = DatabaseOption,
) -> None:
    """Store the answer of every incident whose stored document is missing or stale (imported or seeded incidents,
    incidents that name a renamed tag, part, account, article or artifact): until then their reads render them
    anew. 200 incidents per transaction, each locked meanwhile; the server may keep running."""
    from incidentd.incidents import documents

    settings = command_settings(database_url=database_url)

    async def work(db: database.Database) -> int:
        async with db.read() as conn:
            slugs = [org] if org else [row.slug for row in await identity.list_orgs(conn)]
            scopes = [await identity.find_org(conn, settings.don_partition, slug) for slug in slugs]
        return sum([await documents.refresh(db, scope) for scope in scopes])

    started = time.perf_counter()
    stored = run_with_database(settings, work)
    typer.echo(f"stored {stored} incident documents in {time.perf_counter() - started:.1f} s")


@org_app.command("create")
def org_create(
    display_name: str = typer.Argument(..., help="The org's name."),
    slug: str = typer.Option(None, help="The org's id in DONs (default: random)."),
    admin_email: str = typer.Option(None, help="Also create an admin dev user with this email and a token."),
    database_url: str = DatabaseOption,
) -> None:
    """Create a dev org (and optionally its first dev user and token)."""
    settings = command_settings(database_url=database_url)

    async def work(db: database.Database) -> tuple[Any, Any]:
        async with db.write() as conn:
            org = await identity.create_org(
                conn, partition=settings.don_partition, display_name=display_name, slug=slug
            )
            token = None
            if admin_email:
                user = await identity.create_user(conn, org, email=admin_email, full_name="Administrator", role=ADMIN)
                token = await identity.issue_token(conn, org, user.number, token_hint="org admin token")
            return org, token

    org, token = run_with_database(settings, work)
    typer.echo(f"{org.slug}\t{org.org_don}")
    if token is not None:
        _print_token(settings, token.secret)


@org_app.command("list")
def org_list(database_url: str = DatabaseOption) -> None:
    """List dev orgs."""
    settings = command_settings(database_url=database_url)

    async def work(db: database.Database) -> list[Any]:
        async with db.read() as conn:
            return await identity.list_orgs(conn)

    for row in run_with_database(settings, work):
        typer.echo(f"{row.slug}\t{ids.org_don(settings.don_partition, row.slug)}\t{row.display_name}")


@user_app.command("create")
def user_create(
    email: str = typer.Option(None, help="Email (required for dev users)."),
    full_name: str = typer.Option(None),
    display_name: str = typer.Option(None),
    kind: str = typer.Option("dev_user", help="dev_user, service_account or sys_user."),
    role: str = typer.Option("member", help="admin (administers the org) or member (works on incidents)."),
    org: str = OrgOption,
    database_url: str = DatabaseOption,
) -> None:
    """Create a principal in an org."""
    settings = command_settings(database_url=database_url)
    if kind == "dev_user" and not email:
        typer.secho("error: a dev user needs --email", fg="red", err=True)
        raise typer.Exit(2)

    async def work(db: database.Database) -> str:
        async with db.write() as conn:
            scope = await identity.find_org(conn, settings.don_partition, org)
            row = await identity.create_user(
                conn, scope, email=email, full_name=full_name, display_name=display_name, user_type=kind, role=role
            )
            return scope.don(row.user_type, row.number)

    typer.echo(run_with_database(settings, work))


@user_app.command("list")
def user_list(org: str = OrgOption, database_url: str = DatabaseOption) -> None:
    """List an org's principals with their roles."""
    settings = command_settings(database_url=database_url)

    async def work(db: database.Database) -> list[str]:
        scope = await org_scope(db, settings, org)
        return [
            "\t".join(
                [
                    scope.don(row.user_type, row.number),
                    ids.to_display(row.user_type, row.number),
                    row.role,
                    row.state,
                    row.email or "-",
                    row.display_name or "",
                ]
            )
            for row in await identity.list_users(db, scope)
        ]

    for line in run_with_database(settings, work):
        typer.echo(line)


@user_app.command("set-role")
def user_set_role(
    user: str = typer.Argument(..., help="The user: email, DON or display id (DEVU-1)."),
    role: str = typer.Argument(..., help="admin or member."),
    org: str = OrgOption,
    database_url: str = DatabaseOption,
) -> None:
    """Make a user an admin or a member; running servers apply it within 2 seconds."""
    settings = command_settings(database_url=database_url)

    async def work(db: database.Database) -> str:
        scope = await org_scope(db, settings, org)
        row = await identity.set_role(db, scope, user, role)
        return f"{scope.don(row.user_type, row.number)}\t{row.role}"

    typer.echo(run_with_database(settings, work))


# web app logins (docs/web.md) -------------------------------------------------------------------------


@user_app.command("set-password")
def user_set_password(
    user: str = typer.Argument(..., help="The dev user: email, DON or display id (DEVU-1)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin's first line."),
    org: str = OrgOption,
    database_url: str = DatabaseOption,
) -> None:
    """Set a dev user's web app password (asked twice, not echoed); ends the user's web sessions."""
    from incidentd.logins import service as logins

    settings = command_settings(database_url=database_url)
    if password_stdin:
        password = typer.get_text_stream("stdin").readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(db: database.Database) -> str:
        scope = await org_scope(db, settings, org)
        number = await logins.set_password(db, scope, user, password)
        return scope.don("dev_user", number)

    typer.echo(f"password set for {run_with_database(settings, work)}")


@app.command("login-link")
def login_link(
    user: str = typer.Argument(..., help="The dev user: email, DON or display id (DEVU-1)."),
    url: str = typer.Option(None, "--url", help="The server's address as browsers reach it (default: local)."),
    org: str = OrgOption,
    database_url: str = DatabaseOption,
) -> None:
    """Print a one-time web app login link for a dev user (valid INCIDENTD_WEB_LOGIN_LINK_SECONDS, once)."""
    from incidentd.logins import service as logins

    settings = command_settings(database_url=database_url)

    async def work(db: database.Database) -> str:
        scope = await org_scope(db, settings, org)
        return await logins.issue_login_link(db, scope, user)

    secret = run_with_database(settings, work)
    base = (url or client_url(settings.host, settings.port)).rstrip("/")
    typer.echo(f"{base}/web/login/link/{secret}")


@token_app.command("create")
def token_create(
    user: str = typer.Option(..., help="The user: DON, display id (DEVU-1) or email."),
    expires_in_days: int = typer.Option(None, help="Days until the token expires (default: never)."),
    hint: str = typer.Option(None, help="A note that identifies the token."),
    org: str = OrgOption,
    database_url: str = DatabaseOption,
) -> None:
    """Issue an API token for a user; the secret is printed once."""
    settings = command_settings(database_url=database_url)

    async def work(db: database.Database) -> str:
        async with db.write() as conn:
            scope = await identity.find_org(conn, settings.don_partition, org)
            row = await identity.resolve_user(conn, scope, user)
            issued = await identity.issue_token(
                conn, scope, row.number, expires_in_days=expires_in_days, token_hint=hint
            )
            return f"{scope.don('auth_token', issued.number)}\n{issued.secret}"

    typer.echo(run_with_database(settings, work))


@token_app.command("list")
def token_list(
    user: str = typer.Option(None, help="Only this user's tokens."),
    org: str = OrgOption,
    database_url: str = DatabaseOption,
) -> None:
    """List tokens (never their secrets)."""
    settings = command_settings(database_url=database_url)

    async def work(db: database.Database) -> list[str]:
        async with db.read() as conn:
            scope = await identity.find_org(conn, settings.don_partition, org)
            user_number = (await identity.resolve_user(conn, scope, user)).number if user else None
            rows = await identity.tokens_of(conn, scope, user_number)
        return [
            "\t".join(
                [
                    scope.don("auth_token", row.number),
                    f"user/{row.user_number}",
                    identity.token_status(row),
                    to_rfc3339(row.issued_at),
                    to_rfc3339(row.expires_at) if row.expires_at else "-",
                    to_rfc3339(row.last_used_at) if row.last_used_at else "-",
                    row.token_hint or "",
                ]
            )
            for row in rows
        ]

    for line in run_with_database(settings, work):
        typer.echo(line)


@token_app.command("revoke")
def token_revoke(
    token_id: str = typer.Argument(..., help="The token's id (DON or TOKEN-n)."),
    org: str = OrgOption,
    database_url: str = DatabaseOption,
) -> None:
    """Revoke a token: it stops working at once."""
    settings = command_settings(database_url=database_url)

    async def work(db: database.Database) -> None:
        scope = await org_scope(db, settings, org)
        await identity.revoke_token(db, scope, token_id)

    run_with_database(settings, work)
    typer.echo(f"revoked {token_id}")


@app.command()
def worker(database_url: str = DatabaseOption) -> None:
    """Deliver webhook events (and run verify handshakes) until stopped; as many as you like, on any machine
    (PostgreSQL shares the work between them; on SQLite one delivers at a time)."""
    from incidentd.logs import configure_logging, configured_secrets
    from incidentd.webhooks.delivery import Deliverer, stop

    settings = command_settings(database_url=database_url)
    configure_logging(settings.log_format, settings.log_level, configured_secrets(settings))

    async def work(db: database.Database) -> None:
        if settings.migrate_on_start:
            await database.upgrade(db.engine)
        deliverer = Deliverer(db)
        running = asyncio.create_task(deliverer.run())
        try:
            await running
        finally:
            await stop(deliverer, running)

    typer.echo("incidentd worker: delivering webhook events (Ctrl-C stops)")
    try:
        run_with_database(settings, work)
    except KeyboardInterrupt:
        pass


@app.command()
def seed(
    count: int = typer.Option(10_000, "--count", help="How many incidents to add."),
    org: str = OrgOption,
    batch: int = typer.Option(5_000, help="Incidents per transaction."),
    random_seed: int = typer.Option(None, "--random-seed", help="Make the data reproducible."),
    database_url: str = DatabaseOption,
) -> None:
    """Fill an org with realistic incidents (two years, every severity and stage, owners, parts, tags...)."""
    from incidentd.seed.service import seed as seed_org

    settings = command_settings(database_url=database_url)

    async def work(db: database.Database) -> int:
        if settings.migrate_on_start:
            await database.upgrade(db.engine)
        created = await identity.bootstrap(db, admin_email=settings.bootstrap_admin_email)
        if created is not None:  # before seeding: an interrupted seed must not lose the token
            _print_bootstrap(settings, created)
        with typer.progressbar(length=count, label="seeding incidents") as bar:
            return await seed_org(db, count=count, org_slug=org, batch=batch, rng_seed=random_seed, progress=bar.update)

    started = time.perf_counter()
    added = run_with_database(settings, work)
    elapsed = time.perf_counter() - started
    typer.echo(f"added {added} incidents in {elapsed:.1f} s ({added / max(elapsed, 1e-9):,.0f}/s)")


# backup, restore, export and import live in cli_data (this module would pass 700 lines with them).
app.command()(cli_data.backup)
app.command()(cli_data.restore)
app.command("export")(cli_data.export_command)
app.command("import")(cli_data.import_command)
