"""Events and webhooks under load: what recording every change's event costs, and what delivering it does.

    PYTHONPATH=src .venv/bin/python bench/webhooks_load.py            # SQLite, 5,000 incidents, 5 s per load

On one seeded database, `incidentd serve` (1 worker, delivering in-process as by default) is driven by wrk
(64 connections) with bench/run.py's scenarios:

  A  a server with INCIDENTD_EVENTS_STREAM=false, no webhooks: creates and updates record no event (the code
     before /events.stream: an event only when a webhook subscribes);
  B  a second server, the default (events stream on): every create and update records its event; its 10
     webhooks (subscribed to incident_updated, receivers on loopback: one asyncio process, a path per webhook,
     checking every signature) are created and verified, then deactivated;
  C  the same server with the 10 webhooks active.

B's and C's update_stage loads alternate in rounds (`--rounds`, 3): B, then activate the webhooks, C, then wait
(bounded) until every event of C reached every webhook and no delivery is pending, then deactivate. Pairs run
minutes apart on the same warmed server and database, so the ratio C / B of a round is far steadier than rates
of separate runs on a machine whose speed wanders (this one's moved by 40 % between runs).

It prints the API rates (A vs B: the cost of always recording; C vs B per round and their median: the cost of
delivering meanwhile), the delivery rate, the commit-to-receipt lag p50/p99 (receipt time minus the incident's
modified_date), whether every event arrived exactly (duplicates only with the same event id), and the server's
CPU time per delivery after each load ended (when it only delivers: CPU time is much less skewed by a loaded
machine than rates). Loopback only; every load is bounded in time.
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
import statistics
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
        self.reset()

    def reset(self) -> None:
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
                if method == "GET":  # the tally so far; `/stats?reset` starts a new one after answering
                    answer = json.dumps(tally.stats()).encode()
                    if path.endswith("?reset"):
                        tally.reset()
                else:
                    answer = tally.take(path, headers, body)
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


def drive(base: str, script: str, seconds: float, warmup: float, pid: int | None = None) -> dict[str, Any]:
    """wrk's result for the measured load; with the server's process group `pid`, also the server's CPU time per
    request during it (a steadier measure than the rate on a machine whose speed wanders)."""
    if warmup:
        wrk(base, script, warmup)
    cpu = group_cpu_seconds(pid) if pid is not None else 0.0
    result = wrk(base, script, seconds)
    if pid is not None and result["requests"]:
        result["cpu_ms_per_request"] = (group_cpu_seconds(pid) - cpu) * 1000 / result["requests"]
    return result


def serve_env(url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "INCIDENTD_DATABASE_URL": url,
        "INCIDENTD_LOG_LEVEL": "warning",
        "INCIDENTD_DB_POOL_SIZE": "20",
        "INCIDENTD_RATE_LIMIT_REQUESTS": "0",
        **extra,
    }


def world_of(base: str, token: str) -> dict[str, list[str]]:
    return {
        "users": [u["id"] for u in api(base, token, "/dev-users.list", {"limit": 5})["dev_users"]][1:],
        "parts": [p["id"] for p in api(base, token, "/parts.list", {"limit": 5})["parts"]],
        "tags": [t["id"] for t in api(base, token, "/tags.list", {"limit": 5})["tags"]],
    }


def set_hooks(base: str, token: str, hooks: list[str], action: str) -> None:
    for hook in hooks:
        api(base, token, "/webhooks.update", {"id": hook, "action": action})


def deliver_under_load(
    path: str, base: str, scripts: dict[str, str], args: argparse.Namespace, pid: int, stats_url: str
) -> dict[str, Any]:
    """C: the update_stage load with the webhooks active, then the drain (bounded); what was delivered."""
    start_seq = sql(path, "SELECT COALESCE(MAX(seq), 0) FROM webhook_events")
    loaded = time.time()
    rate = drive(base, scripts["update_stage"], args.seconds, args.warmup, pid)
    # CPU the server spends per delivery once the load ended (it then only delivers): CPU time, which a loaded
    # machine slows much less than it slows rates.
    drain_cpu, drain_from = group_cpu_seconds(pid), receiver_stats(stats_url)["unique"]
    deadline = time.monotonic() + args.drain_timeout
    while True:
        # Counted again each time: requests in flight when wrk stopped commit (and record events) after.
        events = sql(path, f"SELECT COUNT(*) FROM webhook_events WHERE seq > {start_seq}")
        stats = receiver_stats(stats_url)
        pending = sql(path, "SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'")
        if (stats["unique"] >= events * HOOKS and pending == 0) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    drained = time.time()
    drain_cpu = group_cpu_seconds(pid) - drain_cpu
    stats = receiver_stats(stats_url + "?reset")
    spread = stats["last"] - stats["first"]
    drain_deliveries = stats["unique"] - drain_from
    return {
        "C": rate,
        "events": events,
        "expected": events * HOOKS,
        "receiver": stats,
        "pending_after": pending,
        "drain_seconds_after_load": round(drained - loaded - args.seconds - args.warmup, 1),
        "delivery_rate": stats["unique"] / spread if spread > 0 else 0.0,
        "delivered_during_load": drain_from,
        "drain_cpu_ms_per_delivery": drain_cpu * 1000 / drain_deliveries if drain_deliveries else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5_000, help="seeded incidents")
    parser.add_argument("--seconds", type=float, default=5, help="each measured load")
    parser.add_argument("--warmup", type=float, default=1, help="unmeasured seconds before each load")
    parser.add_argument("--drain-timeout", type=float, default=90, help="how long each C waits for the backlog")
    parser.add_argument("--rounds", type=int, default=3, help="B and C loads, alternating")
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

    with server(command, serve_env(url, INCIDENTD_EVENTS_STREAM="false"), f"{base}/health"):
        scripts = scenarios(token, world_of(base, token), args.count, "")
        for scenario in ("create", "update_stage"):
            results[f"A_{scenario}"] = drive(base, scripts[scenario], args.seconds, args.warmup)
            print(f"  A {scenario}: {results[f'A_{scenario}']}", flush=True)

    receiver_port = free_port()
    receiver = subprocess.Popen([PYTHON, __file__, "--receiver", str(receiver_port)], start_new_session=True)
    stats_url = f"http://127.0.0.1:{receiver_port}/stats"
    rounds: list[dict[str, Any]] = []
    try:
        time.sleep(0.5)
        with server(command, serve_env(url), f"{base}/health") as process:
            results["B_create"] = drive(base, scripts["create"], args.seconds, args.warmup)
            print(f"  B create: {results['B_create']}", flush=True)
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
            set_hooks(base, token, hooks, "deactivate")
            receiver_stats(stats_url + "?reset")  # forget the handshakes
            for number in range(1, args.rounds + 1):
                one = {
                    "round": number,
                    "B": drive(base, scripts["update_stage"], args.seconds, args.warmup, process.pid),
                }
                set_hooks(base, token, hooks, "activate")  # delivers events after this moment only
                one.update(deliver_under_load(path, base, scripts, args, process.pid, stats_url))
                set_hooks(base, token, hooks, "deactivate")
                one["ratio"] = one["C"]["rps"] / one["B"]["rps"] if one["B"]["rps"] else 0.0
                print(f"  round {number}: {one}", flush=True)
                rounds.append(one)
    finally:
        os.killpg(receiver.pid, signal.SIGTERM)
        receiver.wait()
    results["rounds"] = rounds
    results["B_update_stage"] = {"rps": sum(r["B"]["rps"] for r in rounds) / len(rounds)}
    results["C_update_stage"] = {"rps": sum(r["C"]["rps"] for r in rounds) / len(rounds)}
    results["median_ratio"] = statistics.median(r["ratio"] for r in rounds)
    report(results)
    out = ROOT / "bench" / "results" / f"webhooks-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


def report(r: dict[str, Any]) -> None:
    def rate(result: dict[str, Any]) -> str:
        cpu = f", {result['cpu_ms_per_request']:.1f} ms CPU each" if "cpu_ms_per_request" in result else ""
        return f"{result['rps']:,.0f}/s (p99 {result['p99_ms']:.0f} ms, errors {result['errors']}{cpu})"

    print(f"A (events only for webhooks) create {rate(r['A_create'])}, update_stage {rate(r['A_update_stage'])}")
    print(f"B (every change's event)     create {rate(r['B_create'])}")
    for one in r["rounds"]:
        receiver = one["receiver"]
        print(
            f"round {one['round']}: update_stage B {rate(one['B'])}, C (B + {HOOKS} webhooks) {rate(one['C'])}"
            f" = {one['ratio']:.2f} of B"
        )
        print(
            f"  deliveries: {receiver['unique']:,} of {one['expected']:,} expected ({one['events']:,} events x "
            f"{HOOKS}), {receiver['received'] - receiver['unique']} duplicates, {receiver['bad_signatures']} bad "
            f"signatures, {one['delivered_during_load']:,} during the load, pending after: {one['pending_after']}, "
            f"drained {one['drain_seconds_after_load']} s after the load ended"
        )
        cpu = one["drain_cpu_ms_per_delivery"]
        print(
            f"  delivery rate {one['delivery_rate']:,.0f}/s; commit-to-receipt lag p50 "
            f"{receiver['lag_p50_ms']:,.0f} ms, p99 {receiver['lag_p99_ms']:,.0f} ms"
            + (f"; {cpu:.2f} ms of server CPU per delivery after the load" if cpu is not None else "")
        )
    print(f"C / B update_stage, median of {len(r['rounds'])} rounds: {r['median_ratio']:.2f}")


if __name__ == "__main__":
    main()
