"""Live-page fan-out: event-to-browser latency with the Redis channel layer.

    REDIS_URL=redis://127.0.0.1:6379/15 .venv/bin/python benchmarks/fanout.py \
        [--clients 100] [--rate 200] [--seconds 10] [--servers 1] [--client-procs 4]

Target (issue 4): 100 connected WebSocket clients, 200 events/s: event-to-client latency
p50 <= 100 ms, p99 <= 300 ms.

What it does, on loopback only and on a throwaway database (a temporary SQLite file, or
test_fanout_benchmark next to DATABASE_URL):
1. starts `manage.py serve --no-worker` (daphne; `--servers` of them on their own ports) with
   the Redis channel layer under a private channel prefix;
2. opens `--clients` WebSockets to the activity feed (`/ws/activity/`) as a signed-in viewer,
   spread over `--client-procs` processes (aiohttp) and over the servers;
3. writes `--rate` events per second for `--seconds` through record_event() in a transaction,
   as the services do; each is published to Redis after commit;
4. every client timestamps each pushed row (`id="ev-<event id>"`); latency is receive time
   minus the time just before the event's transaction began (same host, same clock).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SECRET = "benchmark-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
EV = re.compile(r'id="ev-(\d+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


# --- client processes ---------------------------------------------------------------------
def client_proc(
    urls: list[str], cookie: str, ready: mp.Queue, stop: mp.Event, out: mp.Queue
) -> None:
    import aiohttp

    async def one(session: aiohttp.ClientSession, url: str, records: list, connected: list) -> None:
        origin = "http://" + urlparse(url).netloc
        async with session.ws_connect(
            url, headers={"Origin": origin, "Cookie": cookie}, max_msg_size=0, heartbeat=None
        ) as ws:
            connected.append(1)
            while not stop.is_set():
                try:
                    msg = await ws.receive(timeout=0.5)
                except TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                t = time.time()
                for ev in EV.findall(msg.data):
                    records.append((int(ev), t))

    async def main() -> None:
        records: list[tuple[int, float]] = []
        connected: list[int] = []
        # aiohttp allows 100 connections per session unless told otherwise: more clients per
        # process than that waited for a slot and timed out (read as "refused at connect").
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            tasks = [asyncio.create_task(one(session, u, records, connected)) for u in urls]
            while len(connected) < len(urls):
                done = [t for t in tasks if t.done() and t.exception()]
                if done:
                    raise done[0].exception()
                await asyncio.sleep(0.05)
            ready.put(len(urls))
            while not stop.is_set():
                await asyncio.sleep(0.1)
            await asyncio.gather(*tasks, return_exceptions=True)
        out.put(records)

    asyncio.run(main())


# --- main -----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--client-procs", type=int, default=4)
    args = parser.parse_args()

    redis_url = os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
    if urlparse(redis_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("fanout.py runs on loopback only: point REDIS_URL at 127.0.0.1")
    if not port_open(urlparse(redis_url).port or 6379):
        sys.exit(f"Redis is not reachable at {redis_url}")
    os.environ["CHANNEL_PREFIX"] = f"sbbench{os.getpid()}"
    os.environ.setdefault("SECRET_KEY", SECRET)
    if not os.environ.get("DATABASE_URL"):
        os.environ["SWITCHBOARD_DATA_DIR"] = tempfile.mkdtemp(prefix="sb-fanout-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

    import django

    django.setup()
    from django.db import connection, transaction
    from django.test import Client

    if connection.vendor != "sqlite":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = "test_fanout_benchmark"
    old_name = connection.settings_dict["NAME"]
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    servers: list[subprocess.Popen] = []
    try:
        from apps.accounts.models import User
        from apps.agents.models import Agent
        from apps.core.events import record_event
        from apps.projects.models import Project

        project = Project.objects.create(name="Bench", slug="bench")
        agent = Agent.objects.create(project=project, name="bench-agent", status="working")
        user = User.objects.create_user(username="bench", password="x", role="viewer")
        web = Client(HTTP_HOST="127.0.0.1")
        web.force_login(user)
        cookie = f"sessionid={web.cookies['sessionid'].value}"

        from apps.core.db import database_url

        db_url = database_url(connection.settings_dict, name=test_name)
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "DEBUG": "false",
            "SECURE_HTTPS": "false",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        ports = [free_port() for _ in range(args.servers)]
        log = open(Path(tempfile.gettempdir()) / f"sb-fanout-{os.getpid()}.log", "w")  # noqa: SIM115
        for port in ports:
            # FANOUT_PROFILE=<file> runs the (first) server under cProfile, for digging.
            prof = (
                ["-m", "cProfile", "-o", os.environ["FANOUT_PROFILE"]]
                if os.environ.get("FANOUT_PROFILE") and not servers
                else []
            )
            servers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        *prof,
                        str(ROOT / "manage.py"),
                        "serve",
                        "--no-worker",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 40
        while not all(port_open(p) for p in ports):
            if time.monotonic() > deadline or any(p.poll() is not None for p in servers):
                sys.exit(f"the server did not start; see {log.name}")
            time.sleep(0.1)

        urls = [
            f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/activity/?project=bench"
            for i in range(args.clients)
        ]
        procs_n = max(1, min(args.client_procs, args.clients))
        ctx = mp.get_context("spawn")
        ready, out, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
        procs = [
            ctx.Process(target=client_proc, args=(urls[i::procs_n], cookie, ready, stop, out))
            for i in range(procs_n)
        ]
        for p in procs:
            p.start()
        connected = 0
        while connected < args.clients:
            connected += ready.get(timeout=60)
        time.sleep(1.0)  # let the snapshots drain

        sent: dict[int, float] = {}
        n = int(args.rate * args.seconds)
        start = time.time() + 0.2
        behind = 0.0
        for i in range(n):
            due = start + i / args.rate
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            else:
                behind = max(behind, -wait)
            t0 = time.time()
            with transaction.atomic():
                event = record_event(
                    "hook.bench", project=project, agent=agent, data={"message": f"bench {i}"}
                )
            sent[event.pk] = t0
        publish_secs = time.time() - start
        time.sleep(2.0)  # late deliveries
        stop.set()
        records: list[tuple[int, float]] = []
        for _ in procs:
            records.extend(out.get(timeout=60))
        for p in procs:
            p.join(timeout=10)

        lat = [(t - sent[ev]) * 1000 for ev, t in records if ev in sent]
        expected = len(sent) * args.clients
        lat.sort()

        def pct(p: float) -> float:
            return (
                lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))]
                if lat
                else float("nan")
            )

        print(
            f"{connection.vendor} + Redis channel layer, {args.servers} server process(es), "
            f"{args.clients} clients in {procs_n} processes"
        )
        print(
            f"published {len(sent)} events in {publish_secs:.1f} s "
            f"({len(sent) / publish_secs:.0f}/s; publisher max lag {behind * 1000:.0f} ms)"
        )
        print(f"delivered {len(lat)} of {expected} ({100 * len(lat) / max(expected, 1):.2f}%)")
        if lat:
            print(
                f"latency ms: p50 {pct(50):.1f}  p90 {pct(90):.1f}  p99 {pct(99):.1f}  "
                f"max {lat[-1]:.1f}  mean {statistics.fmean(lat):.1f}"
            )
            ok = pct(50) <= 100 and pct(99) <= 300
            print(f"target p50 <= 100 ms, p99 <= 300 ms -> {'OK' if ok else 'MISSED'}")
    finally:
        for p in servers:
            p.terminate()
        for p in servers:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
