"""`incidentd user create --role`, `user list` and `user set-role`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner, Result

from incidentd.cli import app
from incidentd.config import get_settings


@pytest.fixture
def incidentd(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The CLI on the test's database (the CLI exports its settings to the environment; monkeypatch undoes it)."""
    monkeypatch.setenv("INCIDENTD_DATABASE_URL", database_url)
    yield CliRunner()
    get_settings.cache_clear()


def run(runner: CliRunner, *args: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


def roles(runner: CliRunner) -> dict[str, str]:
    """{email or display id: role} from `user list`."""
    lines = run(runner, "user", "list", "--org", "acme").stdout.splitlines()
    return {email if email != "-" else display_id: role for _, display_id, role, _, email, _ in map(str.split, lines)}


def test_org_admin_created_users_and_set_role(incidentd: CliRunner):
    run(incidentd, "org", "create", "Acme", "--slug", "acme", "--admin-email", "ops@acme.test")
    run(incidentd, "user", "create", "--org", "acme", "--email", "sre@acme.test", "--display-name", "sre")
    run(
        incidentd,
        "user",
        "create",
        "--org",
        "acme",
        "--email",
        "lead@acme.test",
        "--display-name",
        "lead",
        "--role",
        "admin",
    )
    run(incidentd, "user", "create", "--org", "acme", "--kind", "service_account", "--display-name", "alerts")
    assert roles(incidentd) == {
        "ops@acme.test": "admin",
        "sre@acme.test": "member",
        "lead@acme.test": "admin",
        "SVCACC-4": "member",
    }

    promoted = run(incidentd, "user", "set-role", "--org", "acme", "sre@acme.test", "admin")
    assert promoted.stdout.split() == ["don:identity:dvrv-us-1:devo/acme:devu/2", "admin"]
    run(incidentd, "user", "set-role", "--org", "acme", "SVCACC-4", "admin")
    run(incidentd, "user", "set-role", "--org", "acme", "ops@acme.test", "member")
    assert roles(incidentd) == {
        "ops@acme.test": "member",
        "sre@acme.test": "admin",
        "lead@acme.test": "admin",
        "SVCACC-4": "admin",
    }


def test_a_bad_role_or_an_unknown_user_is_an_error(incidentd: CliRunner):
    run(incidentd, "org", "create", "Acme", "--slug", "acme", "--admin-email", "ops@acme.test")
    bad = run(incidentd, "user", "create", "--org", "acme", "--email", "x@acme.test", "--role", "owner", code=1)
    assert "'owner' is not a role (admin, member)" in bad.output
    bad = run(incidentd, "user", "set-role", "--org", "acme", "ops@acme.test", "root", code=1)
    assert "'root' is not a role" in bad.output
    unknown = run(incidentd, "user", "set-role", "--org", "acme", "nobody@acme.test", "admin", code=1)
    assert "does not exist" in unknown.output
    assert roles(incidentd) == {"ops@acme.test": "admin"}


def test_the_last_admin_cannot_be_demoted(incidentd: CliRunner):
    run(incidentd, "org", "create", "Acme", "--slug", "acme", "--admin-email", "ops@acme.test")
    run(incidentd, "user", "create", "--org", "acme", "--email", "sre@acme.test")
    refused = run(incidentd, "user", "set-role", "--org", "acme", "ops@acme.test", "member", code=1)
    assert "DEVU-1 is the org's last admin: make another user admin first" in refused.output
    run(incidentd, "user", "set-role", "--org", "acme", "ops@acme.test", "admin")  # staying admin is no demotion
    assert roles(incidentd) == {"ops@acme.test": "admin", "sre@acme.test": "member"}

    run(incidentd, "user", "set-role", "--org", "acme", "sre@acme.test", "admin")
    run(incidentd, "user", "set-role", "--org", "acme", "ops@acme.test", "member")
    refused = run(incidentd, "user", "set-role", "--org", "acme", "DEVU-2", "member", code=1)
    assert "DEVU-2 is the org's last admin" in refused.output
    assert roles(incidentd) == {"ops@acme.test": "member", "sre@acme.test": "admin"}


def test_another_orgs_admin_does_not_count(incidentd: CliRunner):
    run(incidentd, "org", "create", "Acme", "--slug", "acme", "--admin-email", "ops@acme.test")
    run(incidentd, "org", "create", "Other", "--slug", "other", "--admin-email", "ops@other.test")
    refused = run(incidentd, "user", "set-role", "--org", "acme", "ops@acme.test", "member", code=1)
    assert "last admin" in refused.output


def test_the_cli_refuses_names_longer_than_their_columns(incidentd: CliRunner):
    long_name = "n" * 257
    refused = run(incidentd, "org", "create", long_name, "--slug", "acme", code=1)
    assert "display_name: must be at most 256 characters" in refused.output
    run(incidentd, "org", "create", "Acme", "--slug", "acme", "--admin-email", "ops@acme.test")
    refused = run(
        incidentd, "user", "create", "--org", "acme", "--email", "a@acme.test", "--full-name", long_name, code=1
    )
    assert "full_name: must be at most 256 characters" in refused.output
    refused = run(incidentd, "token", "create", "--org", "acme", "--user", "ops@acme.test", "--hint", long_name, code=1)
    assert "token_hint: must be at most 256 characters" in refused.output
    run(incidentd, "user", "create", "--org", "acme", "--email", "b@acme.test", "--full-name", "n" * 256)
