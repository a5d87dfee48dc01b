"""Celery beat keeps sending after its broker connection broke (apps/core/beat.py), against a
redis-server of the test's own that it stops and starts."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
import redis
from celery import Celery
from celery.beat import SchedulingError

from apps.core.beat import Scheduler
from tests.support import free_port, missing, port_open, wait_for

QUEUE = "beat-test"


class RedisServer:
    def __init__(self, root: str) -> None:
        self.port, self.root, self.proc = free_port(), root, None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.root], stdout=subprocess.DEVNULL)
        wait_for(lambda: port_open("127.0.0.1", self.port), timeout=20, message="redis-server")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def queued(self) -> int:
        return redis.Redis(port=self.port).llen(QUEUE)


@pytest.fixture
def server(tmp_path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        missing("redis-server is needed to break beat's broker connection")
    s = RedisServer(str(tmp_path))
    s.start()
    yield s
    if s.proc.poll() is None:
        s.stop()


@pytest.fixture
def scheduler(server, tmp_path) -> Iterator[Scheduler]:
    app = Celery("beat-test", broker=f"redis://127.0.0.1:{server.port}/0", set_as_current=False)
    app.conf.task_default_queue = QUEUE
    app.conf.broker_connection_max_retries = 50
    app.conf.beat_schedule = {"tick": {"task": "test.tick", "schedule": 60.0}}
    s = Scheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    yield s
    s.close()


def send(s: Scheduler) -> None:
    s.apply_async(s.schedule["tick"], producer=s.producer, advance=False)


def test_a_send_on_a_closed_connection_is_followed_by_one_that_works(server, scheduler):
    send(scheduler)
    assert server.queued() == 1
    # The state a CI run found beat in after its Redis restarted: the producer's channel on a
    # transport whose connection kombu had collected (client None) and without its pool. Every
    # send then failed in the Redis transport (`'NoneType' object has no attribute
    # 'hostname'`), an error kombu does not retry, and Celery's own scheduler reused that
    # producer for good: no periodic task ran again.
    channel = scheduler.producer.channel
    channel.connection.client = None
    channel._pool = None
    with pytest.raises(SchedulingError):
        send(scheduler)
    send(scheduler)
    send(scheduler)
    assert server.queued() == 3


def test_sends_resume_after_the_broker_restarts(server, scheduler):
    send(scheduler)
    server.stop()
    with pytest.raises(SchedulingError):
        send(scheduler)
    server.start()  # empty: what was queued before went with the process
    send(scheduler)
    assert server.queued() == 1
