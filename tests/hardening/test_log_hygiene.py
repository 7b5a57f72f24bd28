"""No secret reaches a log line: each error path is forced, then the whole log is searched for every secret in play.

The secrets: the caller's token, a wrong token, the metrics token, the artifacts secret, a signed link's signature,
a freshly created token, the database password. Both log formats; stdlib loggers (uvicorn, SQLAlchemy) too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import structlog

from conftest import make_org
from hardening.harness import serving
from incidentd import logs
from incidentd.artifacts.storage import SECRET_FILE
from incidentd.config import Settings
from incidentd.idempotency import service as idempotency
from incidentd.identity import service as identity

METRICS_TOKEN = "metrics-token-0123456789abcdef"
ARTIFACTS_SECRET = "artifacts-secret-0123456789abcdef"
WRONG_TOKEN = "idt_" + "w" * 43


def assert_clean(log: str, secrets: list[str]) -> None:
    assert log.strip(), "nothing was logged: the test would pass vacuously"
    for secret in secrets:
        assert secret not in log, f"a secret ({secret[:6]}...) reached the log:\n{log}"


@pytest.mark.parametrize("log_format", ["json", "console"])
async def test_no_secret_reaches_the_log_on_any_error_path(
    settings: Settings, log_format: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    async with serving(
        settings, log_format=log_format, metrics_token=METRICS_TOKEN, artifacts_secret=ARTIFACTS_SECRET
    ) as served:
        client = served.client
        actor = await make_org(served.app, "hygiene")
        secrets = [actor.token, WRONG_TOKEN, METRICS_TOKEN, ARTIFACTS_SECRET]

        # 500: an unexpected failure under a route, with the caller's Authorization header in the request's locals
        # and secrets in the exception's own text.
        async def failing_self(db: Any, principal: Any) -> Any:
            settings_in_scope = served.app.state.settings
            raise RuntimeError(f"boom with {actor.headers} and {settings_in_scope!r}")

        monkeypatch.setattr(identity, "self_user", failing_self)
        failed = await client.get("/dev-users.self", headers=actor.headers)
        assert failed.status_code == 500
        monkeypatch.undo()

        # 500 after a token was created: the commit of an idempotent request fails with the new secret at hand.
        async def failing_record(conn: Any, key: Any, answer: Any) -> None:
            raise RuntimeError(f"cannot store {answer!r}")

        monkeypatch.setattr(idempotency, "record", failing_record)
        created = await client.post("/auth-tokens.create", json={}, headers={**actor.headers, "Idempotency-Key": "k1"})
        assert created.status_code == 500
        monkeypatch.undo()

        # 401s: a wrong token, a malformed header.
        assert (
            await client.get("/dev-users.self", headers={"Authorization": f"Bearer {WRONG_TOKEN}"})
        ).status_code == 401
        assert (await client.get("/dev-users.self", headers={"Authorization": f"x {WRONG_TOKEN} y"})).status_code == 401
        # The metrics endpoint with a wrong token and with the right one.
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {WRONG_TOKEN}"})).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).status_code == 200

        # A token created over HTTP.
        issued = await client.post("/auth-tokens.create", json={}, headers=actor.headers)
        assert issued.status_code == 201
        secrets.append(issued.json()["access_token"])

        # Signed links: an upload with a tampered signature, a download with a good and a bad one.
        prepared = (await client.post("/artifacts.prepare", json={"file_name": "a.txt"}, headers=actor.headers)).json()
        form = {field["key"]: field["value"] for field in prepared["form_data"]}
        secrets.append(form["signature"])
        tampered = await client.post(
            prepared["url"], data={**form, "signature": form["signature"][::-1]}, files={"file": ("a.txt", b"x")}
        )
        assert tampered.status_code == 403
        assert (await client.post(prepared["url"], data=form, files={"file": ("a.txt", b"x")})).status_code == 204
        located = (await client.post("/artifacts.locate", json={"id": prepared["id"]}, headers=actor.headers)).json()
        url = located["url"]
        secrets.append(url.split("signature=")[1])
        assert (await client.get(url)).status_code == 200
        assert (await client.get(url.replace("signature=", "signature=0"))).status_code == 403

    log = capsys.readouterr().err
    assert "unhandled exception" in log and "commit of an idempotent request failed" in log
    assert "RuntimeError" in log  # the tracebacks are there, only their secrets are not
    assert_clean(log, secrets)


def test_stdlib_log_lines_and_their_tracebacks_are_masked(caplog: pytest.LogCaptureFixture):
    logs.configure_logging("json", "info", ["pg-password-123456"])
    secret = "idt_" + "s" * 43
    with caplog.at_level(logging.WARNING):
        logging.getLogger("uvicorn.error").warning("header %s, url %s", f"Bearer {secret}", "x?signature=abc123")
        try:
            raise ValueError(f"connect to postgresql://incidentd:pg-password-123456@db/incidentd failed: {secret}")
        except ValueError:
            logging.getLogger("sqlalchemy.pool").exception("connection failed")
        logging.getLogger("uvicorn.access").warning(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/artifacts.download?signature=abc123", "1.1", 200
        )
    assert "connection failed" in caplog.text and "ValueError" in caplog.text
    assert "signature=[redacted]" in caplog.text
    assert_clean(caplog.text, [secret, "pg-password-123456", "abc123"])


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Authorization: Bearer abc.def", "Authorization: [redacted]"),
        ("(b'authorization', b'idt_abc')", "(b'authorization', b'[redacted]')"),
        ("cookie=session=1; other=2", "cookie=[redacted]"),
        ("redis://:hunter2@cache:6379/0", "redis://:[redacted]@cache:6379/0"),
        (
            "/artifacts.download?artifact=a&expires=1&signature=f00",
            "/artifacts.download?artifact=a&expires=1&signature=[redacted]",
        ),
        ("the token is not valid", "the token is not valid"),
    ],
)
def test_secret_shapes_in_text_are_masked(text: str, masked: str):
    assert logs.redact_text(text) == masked


def test_values_under_secret_keys_are_masked_whatever_they_are():
    event = {"headers": [(b"authorization", b"x"), (b"accept", b"*/*")], "password": 1, "nested": {"api_key": "k"}}
    assert logs.redact(event) == {
        "headers": [["authorization", "[redacted]"], ["accept", "*/*"]],
        "password": "[redacted]",
        "nested": {"api_key": "[redacted]"},
    }


def test_the_settings_secrets_are_collected():
    settings = Settings(
        database_url="postgresql://incidentd:pg-pass@db/incidentd",
        rate_limit_storage="redis://:redis-pass@cache:6379/0",
        metrics_token=METRICS_TOKEN,
        artifacts_secret=ARTIFACTS_SECRET,
    )
    assert sorted(logs.configured_secrets(settings)) == sorted(
        [ARTIFACTS_SECRET, METRICS_TOKEN, "pg-pass", "redis-pass"]
    )


async def test_the_artifacts_secret_derived_into_a_file_is_masked(
    settings: Settings, capsys: pytest.CaptureFixture[str]
):
    async with serving(settings, log_format="json", artifacts_secret=None) as served:
        admin = await make_org(served.app, "acme")
        response = await served.client.post("/artifacts.prepare", json={"file_name": "a.txt"}, headers=admin.headers)
        assert response.status_code == 200, response.text
        derived = (Path(settings.artifacts_dir) / SECRET_FILE).read_text().strip()
        assert len(derived) >= 32
        structlog.get_logger("incidentd").error("reading the secret failed", detail=f"the secret was {derived}")
    log = capsys.readouterr().err
    assert "reading the secret failed" in log
    assert_clean(log, [derived])
