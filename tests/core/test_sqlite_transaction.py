"""The raw SQLite write transaction of the hot paths (apps.core.db.sqlite_transaction): it
commits, rolls back on an error, raises sqlite3's errors as Django's, and an error after which
SQLite already ended the transaction surfaces as itself. On a SQLite file of the test's own, so
it runs the same in both CI passes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import IntegrityError

from apps.core.db import lean_sqlite, sqlite_native, sqlite_transaction
from apps.core.db.sqlite3.base import DatabaseWrapper


@pytest.fixture
def db(tmp_path, django_db_blocker) -> Iterator[DatabaseWrapper]:
    wrapper = DatabaseWrapper({
        "ENGINE": "apps.core.db.sqlite3", "NAME": str(tmp_path / "t.sqlite3"), "OPTIONS": {},
        "TIME_ZONE": None, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False, "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False, "USER": "", "PASSWORD": "", "HOST": "", "PORT": "",
        "TEST": {}}, alias="sqlite-transaction-test")
    with django_db_blocker.unblock():
        with wrapper.cursor() as cursor:
            cursor.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
        yield wrapper
        wrapper.close()


def names(db: DatabaseWrapper) -> list[str]:
    with db.cursor() as cursor:
        cursor.execute("SELECT name FROM t ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def test_it_commits(db):
    assert lean_sqlite(db)
    with sqlite_transaction(db) as cursor:
        cursor.execute(sqlite_native("INSERT INTO t (name) VALUES (%(name)s)"), {"name": "a"})
    assert names(db) == ["a"]
    assert not db.connection.in_transaction


def test_an_error_rolls_everything_back(db):
    with pytest.raises(ValueError), sqlite_transaction(db) as cursor:
        cursor.execute("INSERT INTO t (name) VALUES ('a')")
        raise ValueError("the caller failed")
    assert names(db) == [] and not db.connection.in_transaction


def test_sqlite_errors_are_djangos(db):
    with sqlite_transaction(db) as cursor:
        cursor.execute("INSERT INTO t (name) VALUES ('a')")
    with pytest.raises(IntegrityError), sqlite_transaction(db) as cursor:
        cursor.execute("INSERT INTO t (name) VALUES ('b')")
        cursor.execute("INSERT INTO t (name) VALUES ('a')")
    assert names(db) == ["a"]


def test_an_error_after_sqlite_ended_the_transaction_is_the_one_raised(db):
    # Some errors (a full disk, an interrupt) end the transaction inside SQLite; a ROLLBACK
    # then fails with "no transaction is active" and would hide the real error.
    with pytest.raises(ValueError, match="the real error"), sqlite_transaction(db) as cursor:
        cursor.execute("INSERT INTO t (name) VALUES ('a')")
        cursor.execute("ROLLBACK")
        raise ValueError("the real error")
    assert names(db) == []


def test_not_inside_a_transaction_or_while_queries_are_watched(db):
    with db.cursor():
        pass
    db.set_autocommit(False)
    db.in_atomic_block = True
    assert not lean_sqlite(db)
    db.in_atomic_block = False
    db.set_autocommit(True)
    db.force_debug_cursor = True
    assert not lean_sqlite(db)
    db.force_debug_cursor = False
    with db.execute_wrapper(lambda execute, *args: execute(*args)):
        assert not lean_sqlite(db)
    assert lean_sqlite(db)
    assert sqlite_native("a = %(a)s AND b LIKE '%%x'") == "a = :a AND b LIKE '%x'"
