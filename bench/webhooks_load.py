"""Events and webhooks under load: what recording every change's event costs, and what delivering it does.

    PYTHONPATH=src .venv/bin/python bench/webhooks_load.py            # SQLite, 5,000 incidents, 5 s per load

In one run, on one seeded database, `incidentd serve` (1 worker, delivering in-process as by default) is
started three times and driven by wrk (64 connections) with bench/run.py's scenarios:

  A  INCIDENTD_EVENTS_STREAM=false, no webhooks: creates and updates record no event (the code before
     /events.stream: an event only when a webhook subscribes);
  B  the default (events stream on), no webhooks: every create and update records its event;
  C  the default with 10 active webhooks subscribed to incident_updated, their receivers on loopback (one
     asyncio receiver process, a path per webhook, checking every signature): the update_stage load, then
     waiting (bounded) until every event reached every webhook and no delivery is pending.

It prints the API rates (A vs B: the cost of always recording; B vs C: the cost of delivering meanwhile),
the delivery rate, the commit-to-receipt lag p50/p99 (receipt time minus the incident's modified_date), and
whether every event arrived exactly (duplicates only with the same event id), and the server's CPU time per
delivery after the load ended (when it only delivers: CPU time is much less skewed by a loaded machine than
rates). Loopback only; every load is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import INCIDENTD, PYTHON, ROOT, api, free_port, prepare_database, scenarios, server, wrk

SECRET = "bench-webhook-secret"
HOOKS = 10


# the receiver (a process of its own: `--receiver PORT`) -------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.received = 0
        self.ids: set[str] = set()
        self.bad_signatures = 0
        self.lags_ms: list[float] = []
        self.first = 0.0
        self.last = 0.0

    def stats(self) -> dict[str, Any]:
        lags = sorted(self.lags_ms)

        def percentile(p: float) -> float:
            return lags[min(len(lags) - 1, int(p * len(lags)))] if lags else 0.0

        return {
            "received": self.received,
            "unique": len(self.ids),
            "bad_signatures": self.bad_signatures,
            "lag_p50_ms": percentile(0.50),
            "lag_p99_ms": percentile(0.99),
            "first": self.first,
            "last": self.last,
        }

    def take(self, path: str, headers: dict[str, str], body: bytes) -> bytes:
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("x-devrev-signature", "")):
            self.bad_signatures += 1
            return b"{}"
        event = json.loads(body)
        if event.get("type") == "verify":
            return json.dumps({"challenge": event["verify"]["challenge"]}).encode()
        now = time.time()
        self.received += 1
        self.ids.add(event["id"])
        self.first = self.first or now
        self.last = now
        incident = (event.get(event["type"]) or {}).get("incident")
        if incident is not None:
            changed = datetime.fromisoformat(incident["modified_date"]).timestamp()
            self.lags_ms.append((now - changed) * 1000)
        return b"{}"


async def receive(port: int) -> None:
    tally = Tally()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                answer = json.dumps(tally.stats()).encode() if method == "GET" else tally.take(path, headers, body)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(answer), answer)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async with await asyncio.start_server(connection, "127.0.0.1", port, backlog=256):
        await asyncio.Event().wait()


# the run ----------------------------------------------------------------------------------------------------


def sql(path: str, query: str) -> Any:
    with sqlite3.connect(path, timeout=30) as conn:
        return conn.execute(query).fetchone()[0]


def receiver_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return dict(json.loads(answer.read()))


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the processes of a process group (the server and any worker it started)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ..., utime (12), stime (13)
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def drive(base: str, script: str, seconds: float, warmup: float) -> dict[str, Any]:
    if warmup:
        wrk(base, script, warmup)
    return wrk(base, script, seconds)


def serve_env(url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "INCIDENTD_DATABASE_URL": url,
        "INCIDENTD_LOG_LEVEL": "warning",
        "INCIDENTD_DB_POOL_SIZE": "20",
        "INCIDENTD_RATE_LIMIT_REQUESTS": "0",
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5_000, help="seeded incidents")
    parser.add_argument("--seconds", type=float, default=5, help="each measured load")
    parser.add_argument("--warmup", type=float, default=1, help="unmeasured seconds before each load")
    parser.add_argument("--drain-timeout", type=float, default=90, help="how long C waits for the backlog")
    parser.add_argument("--receiver", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver is not None:
        asyncio.run(receive(args.receiver))
        return

    work = ROOT / "bench" / "results" / "work"
    work.mkdir(parents=True, exist_ok=True)
    url, token = prepare_database("sqlite", work, args.count, ROOT / "bench" / "results" / "seeds")
    path = url.removeprefix("sqlite:///")
    results: dict[str, Any] = {"count": args.count, "seconds": args.seconds}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [*INCIDENTD, "serve", "--port", str(port), "--workers", "1"]

    scripts: dict[str, str] = {}
    for name, extra in (("A", {"INCIDENTD_EVENTS_STREAM": "false"}), ("B", {})):
        with server(command, serve_env(url, **extra), f"{base}/health"):
            world = {
                "users": [u["id"] for u in api(base, token, "/dev-users.list", {"limit": 5})["dev_users"]][1:],
                "parts": [p["id"] for p in api(base, token, "/parts.list", {"limit": 5})["parts"]],
                "tags": [t["id"] for t in api(base, token, "/tags.list", {"limit": 5})["tags"]],
            }
            scripts = scenarios(token, world, args.count, "")
            for scenario in ("create", "update_stage"):
                results[f"{name}_{scenario}"] = drive(base, scripts[scenario], args.seconds, args.warmup)
                print(f"  {name} {scenario}: {results[f'{name}_{scenario}']}", flush=True)

    receiver_port = free_port()
    receiver = subprocess.Popen([PYTHON, __file__, "--receiver", str(receiver_port)], start_new_session=True)
    try:
        time.sleep(0.5)
        with server(command, serve_env(url), f"{base}/health") as process:
            hooks = [
                api(
                    base,
                    token,
                    "/webhooks.create",
                    {
                        "url": f"http://127.0.0.1:{receiver_port}/hook-{n}",
                        "event_types": ["incident_updated"],
                        "secret": SECRET,
                    },
                )["webhook"]["id"]
                for n in range(HOOKS)
            ]
            deadline = time.monotonic() + 30
            while any(api(base, token, "/webhooks.get", {"id": h})["webhook"]["status"] != "active" for h in hooks):
                assert time.monotonic() < deadline, "the webhooks were not verified"
                time.sleep(0.2)
            start_seq = sql(path, "SELECT COALESCE(MAX(seq), 0) FROM webhook_events")
            loaded = time.time()
            results["C_update_stage"] = drive(base, scripts["update_stage"], args.seconds, args.warmup)
            print(f"  C update_stage: {results['C_update_stage']}", flush=True)
            stats_url = f"http://127.0.0.1:{receiver_port}/stats"
            # CPU the server spends per delivery once the load ended (it then only delivers): CPU time, which a
            # loaded machine slows much less than it slows rates.
            drain_cpu, drain_from = group_cpu_seconds(process.pid), receiver_stats(stats_url)["unique"]
            deadline = time.monotonic() + args.drain_timeout
            while True:
                # Counted again each time: requests in flight when wrk stopped commit (and record events) after.
                events = sql(path, f"SELECT COUNT(*) FROM webhook_events WHERE seq > {start_seq}")
                expected = events * HOOKS
                stats = receiver_stats(stats_url)
                pending = sql(path, "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'")
                if (stats["unique"] >= expected and pending == 0) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            drained = time.time()
            drain_cpu = group_cpu_seconds(process.pid) - drain_cpu
    finally:
        os.killpg(receiver.pid, signal.SIGTERM)
        receiver.wait()
    results["C_events"] = events
    results["C_expected_deliveries"] = expected
    results["C_receiver"] = stats
    results["C_pending_after"] = pending
    results["C_drain_seconds_after_load"] = round(drained - loaded - args.seconds - args.warmup, 1)
    spread = stats["last"] - stats["first"]
    results["C_delivery_rate"] = stats["unique"] / spread if spread > 0 else 0.0
    results["C_drain_deliveries"] = stats["unique"] - drain_from
    results["C_drain_cpu_ms_per_delivery"] = (
        drain_cpu * 1000 / results["C_drain_deliveries"] if results["C_drain_deliveries"] else None
    )
    report(results)
    out = ROOT / "bench" / "results" / f"webhooks-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


def report(r: dict[str, Any]) -> None:
    def rate(key: str) -> str:
        return f"{r[key]['rps']:,.0f}/s (p99 {r[key]['p99_ms']:.0f} ms, errors {r[key]['errors']})"

    ratio = r["C_update_stage"]["rps"] / r["B_update_stage"]["rps"] if r["B_update_stage"]["rps"] else 0.0
    receiver = r["C_receiver"]
    print(f"A (events only for webhooks) create {rate('A_create')}, update_stage {rate('A_update_stage')}")
    print(f"B (every change's event)     create {rate('B_create')}, update_stage {rate('B_update_stage')}")
    print(f"C (B + {HOOKS} webhooks)          update_stage {rate('C_update_stage')} = {ratio:.2f} of B")
    print(
        f"C deliveries: {receiver['unique']:,} of {r['C_expected_deliveries']:,} expected "
        f"({r['C_events']:,} events x {HOOKS}), {receiver['received'] - receiver['unique']} duplicates, "
        f"{receiver['bad_signatures']} bad signatures, pending after: {r['C_pending_after']}, "
        f"drained {r['C_drain_seconds_after_load']} s after the load ended"
    )
    print(
        f"C delivery rate {r['C_delivery_rate']:,.0f}/s; commit-to-receipt lag p50 {receiver['lag_p50_ms']:,.0f} ms, "
        f"p99 {receiver['lag_p99_ms']:,.0f} ms"
    )
    if r["C_drain_cpu_ms_per_delivery"] is not None:
        print(
            f"C after the load: {r['C_drain_deliveries']:,} deliveries, "
            f"{r['C_drain_cpu_ms_per_delivery']:.2f} ms of server CPU per delivery"
        )


if __name__ == "__main__":
    main()
