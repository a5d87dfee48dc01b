"""The worker's broker (apps/core/redis_broker.py): an acknowledgement on a channel whose
connection kombu already collected fails as a lost connection, so the worker's event loop
finishes its reset after Redis went away and goes on consuming. Against a redis-server of the
test's own; kombu's stock transport is run beside it to show the failure the fix removes."""

from __future__ import annotations

import logging
from functools import partial

import pytest
from celery import Celery
from kombu.asynchronous import Hub

QUEUE = "broker-test"
STOCK = "kombu.transport.redis:Transport"
OURS = "apps.core.redis_broker:Transport"
logger = logging.getLogger("tests.broker")


def app_for(port: int, transport: str) -> Celery:
    app = Celery("broker-test", broker=f"redis://127.0.0.1:{port}/0", set_as_current=False)
    app.conf.broker_transport = transport
    return app


def collected_unacked(app: Celery):
    """A message taken off the queue and not yet acknowledged, whose channel is left as a CI
    run's worker found it after Redis restarted: its transport without a client (the
    connection collected) and its pool already dropped."""
    connection = app.connection_for_read()
    queue = connection.SimpleQueue(QUEUE)
    queue.put({"task": "a"})
    message = queue.get(timeout=5)
    errors = connection.connection_errors
    message.channel.connection.client = None
    message.channel._pool = None
    message.channel.qos._on_collect.cancel()  # its restore at exit would fail the same way
    return message, errors


def test_an_ack_on_a_collected_connection_fails_as_a_lost_connection(redis_server, caplog):
    message, errors = collected_unacked(app_for(redis_server.port, STOCK))
    with pytest.raises(AttributeError, match="hostname"):  # what escaped the worker's loop
        message.ack_log_error(logger, errors)

    message, errors = collected_unacked(app_for(redis_server.port, OURS))
    with caplog.at_level(logging.CRITICAL, logger="tests.broker"):
        message.ack_log_error(logger, errors)  # Celery's ack: logs the connection error
    assert "Couldn't ack" in caplog.text and "was closed" in caplog.text


@pytest.mark.parametrize("transport, recovers", [(STOCK, False), (OURS, True)])
def test_the_event_loop_resets_whole_with_a_stale_ack_queued(redis_server, transport, recovers):
    # What Celery's asynloop does when the broker goes away: reset the hub, which first runs
    # the acknowledgements still queued on it, then makes a new poller for the next connection.
    message, errors = collected_unacked(app_for(redis_server.port, transport))
    hub = Hub()
    hub.call_soon(partial(message.ack_log_error, logger, errors))
    if recovers:
        hub.reset()
    else:
        with pytest.raises(AttributeError):
            hub.reset()
    # Without a poller the worker never reads the new connection: it stops consuming.
    assert (hub._poller is not None) is recovers
    hub.close()


def test_messages_flow_on_a_fresh_connection_after_a_restart(redis_server):
    app = app_for(redis_server.port, OURS)
    with app.connection_for_write() as connection:
        connection.SimpleQueue(QUEUE).put({"n": 1})
    redis_server.stop()
    redis_server.start()  # empty: it keeps nothing on disk
    with app.connection_for_write() as connection:
        queue = connection.SimpleQueue(QUEUE)
        queue.put({"n": 2})
        message = queue.get(timeout=5)
        assert message.payload == {"n": 2}
        message.ack()
    assert redis_server.llen(QUEUE) == 0
