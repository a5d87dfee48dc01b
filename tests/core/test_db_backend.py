"""The PostgreSQL backend's health check: free while the connection is fine, and still
catching a connection the server closed. Runs against the real PostgreSQL in both CI passes
(the embedded pass included), with a wrapper of its own."""

from __future__ import annotations

import os

import psycopg
import pytest

from apps.core.db.postgresql.base import DatabaseWrapper
from tests.support import missing, port_open, wait_for

URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def wrapper(django_db_blocker):
    if not port_open("127.0.0.1", 5432):
        missing("PostgreSQL on 127.0.0.1:5432")
    import dj_database_url

    settings = dj_database_url.parse(URL, conn_max_age=60, conn_health_checks=True)
    settings.update({"ENGINE": "apps.core.db.postgresql", "TIME_ZONE": None, "OPTIONS": {},
                     "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False})
    db = DatabaseWrapper(settings, alias="health-check-test")
    with django_db_blocker.unblock():  # its own connection, not the test database's
        db.ensure_connection()
        yield db
        db.close()


def test_a_healthy_idle_connection_is_usable_without_a_query(wrapper):
    with wrapper.connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    for _ in range(50):
        assert wrapper.is_usable()
    with psycopg.connect(URL, autocommit=True) as other:
        # The stock check would have run SELECT 1 fifty times on this backend.
        row = other.execute("SELECT state, query FROM pg_stat_activity WHERE pid = %s",
                            [pid]).fetchone()
    assert row[0] == "idle"
    assert row[1] == "SELECT pg_backend_pid()"


def test_a_connection_the_server_closed_is_not_usable_and_is_replaced(wrapper):
    with wrapper.connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with psycopg.connect(URL, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_for(lambda: not wrapper.is_usable(), timeout=5, message="the closed connection to show")
    # What Django does at the start of a request with CONN_HEALTH_CHECKS on:
    wrapper.health_check_done = False
    wrapper.close_if_health_check_failed()
    assert wrapper.connection is None
    wrapper.ensure_connection()
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_a_connection_inside_a_transaction_falls_back_to_the_stock_check(wrapper):
    wrapper.connection.execute("BEGIN")
    assert wrapper.is_usable()  # SELECT 1 inside the open transaction works
    wrapper.connection.execute("ROLLBACK")


def test_statements_are_prepared_only_when_asked_and_can_be_switched_off():
    import dj_database_url

    from apps.core.db.postgresql.base import ONLY_WHEN_ASKED

    settings = dj_database_url.parse(URL)
    settings.update({"ENGINE": "apps.core.db.postgresql", "TIME_ZONE": None, "OPTIONS": {}})
    assert DatabaseWrapper(settings).get_connection_params()["prepare_threshold"] == ONLY_WHEN_ASKED
    settings["OPTIONS"] = {"prepare_threshold": None}  # DB_PREPARED_STATEMENTS=false
    assert DatabaseWrapper(settings).get_connection_params()["prepare_threshold"] is None
