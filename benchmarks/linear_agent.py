"""Switchboard as a Linear agent: session webhooks acknowledged, first activity posted, and
mirroring many sessions at once within Linear's rate limit.

    .venv/bin/python benchmarks/linear_agent.py [--latency-sessions 60] [--burst 100]
        [--rate-limit 150] [--rate-window 20]

Targets (issue 14): the session webhook is acknowledged with p99 <= 200 ms; the first activity
reaches Linear p95 <= 3 s after the webhook; mirroring --burst concurrent sessions never
exceeds Linear's rate limit (the client paces from the X-RateLimit-* headers).

Everything runs against the schema-executing fake Linear (tests/linear/fake_linear.py) on
loopback with a real Celery worker (threads, concurrency 2) on the configured broker, on a
throwaway test database (a temporary SQLite file, or a test_ database next to DATABASE_URL).
The acknowledgement is timed in-process through Django's test client (the view, the INSERT and
the enqueue; no HTTP server in front), the first activity from before the POST until the fake
Linear has stored the activity.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if not os.environ.get("DATABASE_URL"):
    os.environ.setdefault("SWITCHBOARD_DATA_DIR", tempfile.mkdtemp(prefix="sb-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["CELERY_QUEUE"] = f"linear-agent-benchmark-{os.getpid()}"
os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

URL = "/api/v1/linear/webhook"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-sessions", type=int, default=60)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--rate-limit", type=int, default=150,
                        help="requests the fake Linear allows per window in the burst phase")
    parser.add_argument("--rate-window", type=float, default=20.0, help="seconds")
    args = parser.parse_args()
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = "test_linear_agent_benchmark"
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run(args)
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


def post(client: Client, fake, payload) -> tuple[int, float]:
    body, headers = fake.signed(payload, fake.session_webhook()["secret"])
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()
             if k != "Content-Type"}
    t0 = time.perf_counter()
    response = client.post(URL, data=body, content_type="application/json", **extra)
    return response.status_code, (time.perf_counter() - t0) * 1000


def run(args: argparse.Namespace) -> None:
    import requests
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun

    from apps.agents.models import Agent, AgentStatus
    from apps.linear import app_install, sync
    from apps.linear.client import LinearClient
    from apps.linear.models import LinearTeam, ProjectMapping, RoutingRule, RoutingTarget, SyncKind
    from apps.linear.models_agent import LinearAgentActivity, OutboxStatus
    from apps.linear.session_outbox import outbox_sweep
    from apps.projects.models import Project
    from config.celery import app
    from tests.linear.fake_linear import FakeLinear

    issues = args.latency_sessions + args.burst
    fake = FakeLinear().seed(issues=issues, teams=1)
    with fake:
        base = fake.url.removesuffix("/graphql")
        settings.LINEAR_API_KEY = ""
        settings.LINEAR_API_URL = fake.url
        settings.LINEAR_OAUTH_CLIENT_ID = fake.oauth_client_id
        settings.LINEAR_OAUTH_CLIENT_SECRET = fake.oauth_client_secret
        settings.LINEAR_OAUTH_AUTHORIZE_URL = f"{base}/oauth/authorize"
        settings.LINEAR_OAUTH_TOKEN_URL = f"{base}/oauth/token"
        run_ = sync.start_run(SyncKind.FULL)
        sync.full_sync(run_, LinearClient(api_url=fake.url, api_key=fake.api_key))
        project = Project.objects.create(name="Bench", slug="bench")
        ProjectMapping.objects.create(project=project, team=LinearTeam.objects.get())
        rule = RoutingRule.objects.create(name="everything")
        for i in range(10):
            agent = Agent.objects.create(project=project, name=f"agent-{i}",
                                         status=AgentStatus.IDLE)
            RoutingTarget.objects.create(rule=rule, agent=agent, capacity=1000)
        redirect = "http://127.0.0.1/settings/integrations/linear/app/callback/"
        consent = requests.get(app_install.authorize_url(redirect_uri=redirect, state="s"),
                               allow_redirects=False, timeout=10)
        code = consent.headers["Location"].split("code=")[1].split("&")[0]
        app_install.install_complete(code=code, redirect_uri=redirect,
                                     webhook_url="http://127.0.0.1/api/v1/linear/webhook",
                                     actor=None)
        print(f"database: {connection.vendor}; broker: "
              f"{'redis' if settings.REDIS_URL else 'embedded'}; {issues} issues, 10 agents")

        def close_db(**kwargs) -> None:
            from django.db import connections

            connections.close_all()

        task_postrun.connect(close_db, weak=False)
        client = Client()
        connection.close()
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False,
                          loglevel="WARNING", shutdown_timeout=30):
            acks, firsts = [], []
            for issue in fake.issues[:args.latency_sessions]:
                session = fake.open_session(issue)
                t0 = time.perf_counter()
                status, ms = post(client, fake, fake.session_event("created", session))
                assert status == 200, status
                acks.append(ms)
                deadline = t0 + 30
                while not fake.session_activities(session["id"]):
                    if time.perf_counter() > deadline:
                        raise SystemExit(f"no activity for session {session['id']} in 30 s")
                    time.sleep(0.005)
                firsts.append(time.perf_counter() - t0)
            ack_p99, first_p95 = pct(acks, 0.99), pct(firsts, 0.95)
            print(f"webhook acknowledged: p50 {statistics.median(acks):.1f} ms, p99 "
                  f"{ack_p99:.1f} ms (target <= 200 ms) {'OK' if ack_p99 <= 200 else 'MISSED'}")
            print(f"first activity in Linear: p50 {statistics.median(firsts):.2f} s, p95 "
                  f"{first_p95:.2f} s, max {max(firsts):.2f} s (target p95 <= 3 s) "
                  f"{'OK' if first_p95 <= 3 else 'MISSED'}")

            # Burst: many sessions at once against a small rate limit.
            with fake.lock:
                fake.rate_limit = fake.rate_remaining = args.rate_limit
                fake.rate_window = args.rate_window
                fake.rate_reset_at = time.time() + args.rate_window
            before = len(fake.requests)
            burst = [fake.open_session(i) for i in fake.issues[args.latency_sessions:issues]]
            started = time.perf_counter()
            threads = [threading.Thread(target=post, args=(Client(), fake,
                                                           fake.session_event("created", s)))
                       for s in burst]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            deadline = time.perf_counter() + 20 * args.rate_window
            quiet = 0
            while True:
                pending = LinearAgentActivity.objects.filter(status=OutboxStatus.PENDING).count()
                ready = all(fake.session_activities(s["id"]) for s in burst)
                quiet = quiet + 1 if ready and not pending else 0
                if quiet >= 3:  # nothing left to send for 3 s: the mirroring is over
                    break
                if time.perf_counter() > deadline:
                    raise SystemExit(f"{pending} activities still waiting")
                outbox_sweep()  # what beat does every 10 s
                time.sleep(1)
            took = time.perf_counter() - started
            sent = fake.requests[before:]
            limited = sum(1 for r in sent if r["limited"])
            refused = LinearAgentActivity.objects.filter(status=OutboxStatus.REFUSED).count()
            stored = LinearAgentActivity.objects.filter(
                session__linear_id__in=[s["id"] for s in burst]).count()
            from collections import Counter

            from apps.linear.models_agent import LinearAgentSession

            states = Counter(LinearAgentSession.objects.filter(
                linear_id__in=[s["id"] for s in burst]).values_list("state", flat=True))
            print(f"burst: {stored} activities queued, all sent, {refused} refused by Linear; "
                  f"sessions {dict(states)}")
            print(f"burst of {args.burst} sessions: {len(sent)} requests in {took:.1f} s against "
                  f"{args.rate_limit} per {args.rate_window:.0f} s; over the limit: {limited} "
                  f"(target 0) {'OK' if limited == 0 else 'MISSED'}")
        task_postrun.disconnect(close_db)


if __name__ == "__main__":
    main()
