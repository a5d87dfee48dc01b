"""Celery beat keeps sending after its broker connection broke (apps/core/beat.py), against a
redis-server of the test's own that it stops and starts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery
from celery.beat import SchedulingError

from apps.core.beat import Scheduler

QUEUE = "beat-test"


@pytest.fixture
def scheduler(redis_server, tmp_path) -> Iterator[Scheduler]:
    app = Celery("beat-test", broker=f"redis://127.0.0.1:{redis_server.port}/0",
                 set_as_current=False)
    app.conf.task_default_queue = QUEUE
    app.conf.broker_connection_max_retries = 50
    app.conf.beat_schedule = {"tick": {"task": "test.tick", "schedule": 60.0}}
    s = Scheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    yield s
    s.close()


def send(s: Scheduler) -> None:
    s.apply_async(s.schedule["tick"], producer=s.producer, advance=False)


def test_a_send_on_a_closed_connection_is_followed_by_one_that_works(redis_server, scheduler):
    send(scheduler)
    assert redis_server.llen(QUEUE) == 1
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
    assert redis_server.llen(QUEUE) == 3


def test_sends_resume_after_the_broker_restarts(redis_server, scheduler):
    send(scheduler)
    redis_server.stop()
    with pytest.raises(SchedulingError):
        send(scheduler)
    redis_server.start()  # empty: what was queued before went with the process
    send(scheduler)
    assert redis_server.llen(QUEUE) == 1
