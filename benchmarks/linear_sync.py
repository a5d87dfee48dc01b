"""Linear sync and webhook intake, against the schema-executing fake Linear on loopback.

    .venv/bin/python benchmarks/linear_sync.py [--issues 5000] [--teams 2] [--webhooks 1000]

Targets (issue 5): a full sync of 5,000 issues in <= 25 GraphQL requests and <= 15 s; an
incremental sync with nothing changed costs one request per team; the webhook endpoint
answers with p99 <= 50 ms. It runs on a throwaway test database (a temporary SQLite file,
or a test_ database next to DATABASE_URL) and never touches real data.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if not os.environ.get("DATABASE_URL"):
    os.environ.setdefault("SWITCHBOARD_DATA_DIR", tempfile.mkdtemp(prefix="sb-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Deliveries enqueue processing tasks: keep them off the real queue and purge them at the end.
os.environ["CELERY_QUEUE"] = "linear-benchmark"
os.environ.setdefault("SECRET_KEY", "benchmark-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=5000)
    parser.add_argument("--teams", type=int, default=2)
    parser.add_argument("--webhooks", type=int, default=1000)
    args = parser.parse_args()

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite":  # never share the test suite's test database
        connection.settings_dict.setdefault("TEST", {})["NAME"] = "test_linear_benchmark"
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run(args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        if settings.REDIS_URL:
            from config.celery import app

            with app.connection_for_write() as conn:
                conn.default_channel.queue_purge("linear-benchmark")


def run(args: argparse.Namespace) -> None:
    from apps.linear import crypto, sync
    from apps.linear.models import (
        LinearConnection,
        LinearIssue,
        LinearTeam,
        ProjectMapping,
        SyncKind,
    )
    from apps.projects.models import Project
    from tests.linear.fake_linear import FakeLinear

    settings.LINEAR_API_KEY = ""
    print(
        f"database: {connection.vendor}; building the fake workspace ({args.issues} issues, "
        f"{args.teams} teams)..."
    )
    fake = FakeLinear().seed(issues=args.issues, teams=args.teams)
    with fake:
        conn = LinearConnection.get()
        conn.api_url = fake.url
        conn.api_key_encrypted = crypto.encrypt(fake.api_key)
        conn.save()

        started = time.perf_counter()
        run_ = sync.start_run(SyncKind.FULL)
        sync.full_sync(run_, sync.client_for(run_))
        full_s = time.perf_counter() - started
        full_requests = len(fake.requests)
        assert LinearIssue.objects.count() == args.issues
        ok = full_requests <= 25 and full_s <= 15
        print(
            f"full sync: {args.issues} issues in {full_s:.2f} s, {full_requests} GraphQL requests "
            f"(target <= 25 requests, <= 15 s) {'OK' if ok else 'MISSED'}"
        )

        for i, team in enumerate(LinearTeam.objects.all()):
            project = Project.objects.create(name=f"P{i}", slug=f"p{i}")
            ProjectMapping.objects.create(project=project, team=team)
        before = len(fake.requests)
        started = time.perf_counter()
        inc = sync.incremental_sync(
            sync.start_run(SyncKind.INCREMENTAL),
            sync.client_for(run_),
            LinearConnection.get().sync_watermark,
        )
        inc_ms = (time.perf_counter() - started) * 1000
        inc_requests = len(fake.requests) - before
        print(
            f"incremental, nothing changed: {inc_requests} requests for {args.teams} teams, "
            f"{inc_ms:.0f} ms, {inc.counts.get('issues', 0)} changes "
            f"{'OK' if inc_requests == args.teams else 'MISSED'}"
        )

        for issue in fake.issues[:25]:
            fake.touch(issue, title=issue["title"] + " (edited)")
        before = len(fake.requests)
        started = time.perf_counter()
        inc = sync.incremental_sync(
            sync.start_run(SyncKind.INCREMENTAL),
            sync.client_for(run_),
            LinearConnection.get().sync_watermark,
        )
        print(
            f"incremental, 25 issues changed: {len(fake.requests) - before} requests, "
            f"{(time.perf_counter() - started) * 1000:.0f} ms, {inc.counts.get('issues', 0)} changes"
        )

        secret = "bench-webhook-secret"
        settings.LINEAR_WEBHOOK_SECRET = secret
        client = Client()
        timings = []
        for n in range(args.webhooks):
            issue = fake.issues[n % len(fake.issues)]
            body, headers = FakeLinear.signed(
                fake.envelope("Issue", "update", fake.issue_payload(issue)), secret
            )
            t0 = time.perf_counter()
            response = client.post(
                "/api/v1/linear/webhook",
                data=body,
                content_type="application/json",
                secure=True,
                HTTP_LINEAR_SIGNATURE=headers["Linear-Signature"],
                HTTP_LINEAR_DELIVERY=headers["Linear-Delivery"],
            )
            timings.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.content
        timings.sort()
        p50 = statistics.median(timings)
        p99 = timings[int(len(timings) * 0.99) - 1]
        print(
            f"webhook endpoint (in-process, full middleware, verify + store + enqueue): "
            f"{args.webhooks} deliveries, p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {timings[-1]:.1f} ms "
            f"(target p99 <= 50 ms) {'OK' if p99 <= 50 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
