"""DevRev's Python SDK (`devrev-python-sdk`, pinned in pyproject's dev extras) against a real incidentd.

The SDK refuses plain http, so the server runs behind TLS with a certificate made here (trustme: a throwaway
CA and a certificate for 127.0.0.1), and the SDK is configured only through its documented settings: the
`DEVREV_*` environment variables, and `SSL_CERT_FILE` for the CA (httpx, which the SDK uses, reads it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
import trustme

from clients.live_server import TLS, LiveServer, bootstrap_token, serving
from contract import assert_conforms

devrev = pytest.importorskip("devrev")
from devrev.exceptions import NotFoundError  # noqa: E402
from devrev.models.incidents import IncidentSeverity, IncidentStage  # noqa: E402

pytestmark = pytest.mark.clients


@pytest.fixture
def tls_server(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, str, Path]]:
    """(server, admin token, CA file)."""
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    chain, key, ca = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    for blob in certificate.cert_chain_pems:
        with chain.open("ab") as out:
            out.write(blob.bytes())
    certificate.private_key_pem.write_to_path(str(key))
    authority.cert_pem.write_to_path(str(ca))
    token = bootstrap_token(database_url)
    with serving(database_url, tmp_path, TLS(chain, key)) as server:
        yield server, token, ca


@pytest.fixture
def sdk(tls_server: tuple[LiveServer, str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    server, token, ca = tls_server
    monkeypatch.chdir(tmp_path)  # the SDK also reads a `.env` file from the working directory: there is none
    monkeypatch.setenv("DEVREV_BASE_URL", server.url)
    monkeypatch.setenv("DEVREV_API_TOKEN", token)
    monkeypatch.setenv("DEVREV_API_VERSION", "beta")
    monkeypatch.setenv("DEVREV_MAX_RETRIES", "0")  # an error must show, not be retried away
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    # DevRevConfig() reads the environment now (DevRevClient() alone would reuse a process-wide config).
    client = devrev.DevRevClient(config=devrev.DevRevConfig())
    try:
        yield client
    finally:
        client.close()


def test_the_python_sdk_refuses_plain_http() -> None:
    with pytest.raises(pydantic.ValidationError, match="HTTPS"):
        devrev.DevRevConfig(api_token="x", base_url="http://127.0.0.1:8080")


def test_the_python_sdk_creates_gets_lists_updates_and_deletes(sdk: Any) -> None:
    me = sdk.dev_users.self()
    created = sdk.incidents.create(
        "Checkout is failing", body="Card payments time out.", severity=IncidentSeverity.SEV1, owned_by=[me.id]
    )
    assert created.id.endswith(":incident/1") and created.display_id == "INC-1"
    assert created.severity.id == 2 and created.severity.label == "sev-1"
    assert created.stage.stage.name == "triage" and created.stage.state.name == "open"
    assert [owner["id"] for owner in created.owned_by] == [me.id]
    assert created.created_date is not None and created.created_date.tzinfo is not None

    other = sdk.incidents.create("Search is slow", severity=IncidentSeverity.SEV3)
    fetched = sdk.incidents.get(created.id)
    assert (fetched.id, fetched.title, fetched.body) == (created.id, "Checkout is failing", "Card payments time out.")
    assert sdk.incidents.get("INC-2").id == other.id  # display ids work wherever ids do

    everything = sdk.incidents.list()
    assert [incident.display_id for incident in everything.incidents] == ["INC-2", "INC-1"]  # newest first
    page = sdk.incidents.list(limit=1)
    assert len(page.incidents) == 1 and page.next_cursor
    rest = sdk.incidents.list(limit=1, cursor=page.next_cursor)
    assert [incident.display_id for incident in rest.incidents] == ["INC-1"]
    sev1 = sdk.incidents.list(severity=[IncidentSeverity.SEV1])  # the SDK's "sev1" strings
    assert [incident.id for incident in sev1.incidents] == [created.id]

    updated = sdk.incidents.update(
        created.id, title="Checkout is failing in the EU", stage=IncidentStage.ACKNOWLEDGED, severity="sev0"
    )
    assert updated.title == "Checkout is failing in the EU"
    assert updated.stage.stage.name == "acknowledged"  # the SDK sends the stage as a bare name
    assert updated.severity.id == 1
    acknowledged = sdk.incidents.list(stage=[IncidentStage.ACKNOWLEDGED])
    assert [incident.id for incident in acknowledged.incidents] == [created.id]

    sdk.incidents.delete(created.id)
    with pytest.raises(NotFoundError):
        sdk.incidents.get(created.id)
    assert [incident.id for incident in sdk.incidents.list().incidents] == [other.id]


def test_the_python_sdk_group_expects_another_shape_than_the_spec(
    sdk: Any, tls_server: tuple[LiveServer, str, Path]
) -> None:
    """The SDK's `IncidentGroupItem` is `{key: str, count: int}`; DevRev's spec (and incidentd) answer
    `{key: field-value, incidents: [...], total}`. The answer is right by the spec; the SDK cannot decode it
    (docs/compatibility.md). The request itself is served."""
    server, token, ca = tls_server
    sdk.incidents.create("Checkout is failing", severity=IncidentSeverity.SEV1)
    with pytest.raises(pydantic.ValidationError) as failure:
        sdk.incidents.group("severity")
    assert {error["loc"][-1] for error in failure.value.errors()} == {"key", "count"}
    answer = httpx.post(
        f"{server.url}/incidents.group", json={"group_by": "severity"}, headers={"Authorization": token}, verify=str(ca)
    )
    assert answer.status_code == 200, answer.text
    assert_conforms("/incidents.group", "post", 200, answer.json())
    assert answer.json()["groups"][0]["key"] == {"type": "int", "value": 2}
