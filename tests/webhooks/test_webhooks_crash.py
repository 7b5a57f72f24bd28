"""kill -9 a delivering `incidentd worker` again and again under a stream of incident changes: afterwards every
committed change has been delivered, in order per incident, and a duplicate always carries its event's id.

INCIDENTD_CRASH_KILLS (default 10) kills per run."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webhooks_support import Receiver, eventually, receiving

from conftest import Actor
from incidentd.config import Settings

pytestmark = pytest.mark.crash

KILLS = int(os.environ.get("INCIDENTD_CRASH_KILLS", "10"))
SECRET = "crash-test-secret"
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "INCIDENTD_DATABASE_URL": settings.database_url,
        "INCIDENTD_AUTO_MIGRATE": "false",
        "INCIDENTD_ARTIFACTS_DIR": str(settings.artifacts_dir),  # the same key for the sealed secrets
        "INCIDENTD_WEBHOOK_POLL_SECONDS": "0.05",
        "INCIDENTD_WEBHOOK_LEASE_SECONDS": "1",
        "INCIDENTD_WEBHOOK_RETRY_FIRST_SECONDS": "0.1",
        "INCIDENTD_WEBHOOK_RETRY_MAX_SECONDS": "0.5",
        "INCIDENTD_LOG_LEVEL": "warning",
    }
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "incidentd", "worker"], env=env, stdout=out, stderr=out)


def seq_of(event: dict[str, Any]) -> int:
    return int(event["id"].rsplit("/", 1)[1])


async def test_a_worker_killed_repeatedly_delivers_every_committed_change_in_order(
    client, admin: Actor, receiver, settings: Settings, tmp_path: Path
):
    receiver.secrets["/hook"] = SECRET
    body = {"url": receiver.url(), "event_types": ["incident_created", "incident_updated"], "secret": SECRET}
    hook = (await client.post("/webhooks.create", json=body, headers=admin.headers)).json()["webhook"]
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    try:
        deadline = time.monotonic() + 30
        while (await client.get("/webhooks.get", params={"id": hook["id"]}, headers=admin.headers)).json()["webhook"][
            "status"
        ] != "active":
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            await asyncio.sleep(0.05)

        committed: dict[str, list[str]] = {}
        writing = True

        async def write_changes() -> None:
            incidents = []
            for n in range(3):
                created = await client.post("/incidents.create", json={"title": f"c{n}"}, headers=admin.headers)
                incidents.append(created.json()["incident"]["id"])
                committed[incidents[-1]] = [f"c{n}"]
            step = 0
            while writing:
                for id_ in incidents:
                    title = f"{id_[-3:]} step {step}"
                    response = await client.post(
                        "/incidents.update", json={"id": id_, "title": title}, headers=admin.headers
                    )
                    if response.status_code == 200:
                        committed[id_].append(title)
                step += 1
                await asyncio.sleep(0.02)

        writer = asyncio.create_task(write_changes())
        rng = random.Random(int(os.environ.get("INCIDENTD_CRASH_SEED", "17")))
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.8, 1.6))  # long enough for it to start and send some
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            worker = start_worker(settings, log)
        writing = False
        await writer
        expected = sum(len(titles) for titles in committed.values())

        def titles_received() -> int:
            return len({e["id"] for e in receiver.events("/hook")})

        await eventually(lambda: titles_received() == expected, seconds=60, what=f"{expected} events")
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()

    events = receiver.events("/hook")
    assert not receiver.bad_signatures
    by_id: dict[str, str] = {}
    per_incident: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        payload = json.dumps(event[event["type"]], sort_keys=True)
        assert by_id.setdefault(event["id"], payload) == payload, "a duplicate with another body"
        per_incident.setdefault(event[event["type"]]["incident"]["id"], []).append(event)
    for id_, titles in committed.items():
        received = per_incident[id_]
        seqs = [seq_of(e) for e in received]
        assert seqs == sorted(seqs), f"out of order for {id_}: {seqs}"
        distinct = []
        for event in received:
            title = event[event["type"]]["incident"]["title"]
            if not distinct or distinct[-1] != (seq_of(event), title):
                distinct.append((seq_of(event), title))
        assert [title for _, title in distinct] == titles
    duplicates = len(events) - len(by_id)
    print(f"{KILLS} kills, {len(by_id)} events, {duplicates} duplicates")
