"""The raw SQLite write transaction of the hot paths (apps.core.db.sqlite_transaction): it
commits, rolls back on an error, raises sqlite3's errors as Django's, and an error after which
SQLite already ended the transaction surfaces as itself. Concurrent hot writes share
transactions (sqlite_grouped), each getting its own answer, and one that fails fails alone. On a SQLite file of the test's own, so
it runs the same in both CI passes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import IntegrityError, OperationalError

from apps.core.db import lean_sqlite, sqlite_grouped, sqlite_native, sqlite_transaction
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


# --- group commit (apps.core.db.sqlite_grouped) ----------------------------------------------
def _threads(db: DatabaseWrapper, n: int, work) -> list[tuple[str, object]]:
    """n threads each making one grouped write on a connection of its own (as serving threads
    do), all released at once; what each got back or raised."""
    import threading

    start = threading.Barrier(n)
    outcomes: list[tuple[str, object]] = [("", None)] * n

    def one(i: int) -> None:
        own = DatabaseWrapper(db.settings_dict, alias=f"writer-{i}")
        try:
            start.wait()
            outcomes[i] = ("ok", sqlite_grouped(own, lambda cursor: work(cursor, i)))
        except Exception as exc:  # noqa: BLE001 - recorded for the test to check
            outcomes[i] = ("error", exc)
        finally:
            own.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def test_concurrent_writes_share_transactions_and_each_gets_its_own_answer(db):
    import time

    transactions: set[int] = set()

    def insert(cursor, i: int) -> int:
        transactions.add(id(cursor))  # one cursor per group's transaction
        cursor.execute("INSERT INTO t (name) VALUES (?) RETURNING id", [f"w{i}"])
        row = cursor.fetchone()
        time.sleep(0.002)  # a write that takes a moment: the others queue behind it
        return row[0]

    outcomes = _threads(db, 24, insert)
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    with db.cursor() as cursor:
        cursor.execute("SELECT name, id FROM t")
        stored = dict(cursor.fetchall())
    assert {f"w{i}": answer for i, (_, answer) in enumerate(outcomes)} == stored
    assert len(stored) == 24
    assert len(transactions) < 24  # grouped: fewer transactions than writes


def test_a_failing_write_fails_alone_and_the_rest_of_its_group_is_stored(db):
    import time

    def insert(cursor, i: int) -> str:
        time.sleep(0.002)
        cursor.execute("INSERT INTO t (name) VALUES (?)", [f"w{i}"])
        if i == 5:  # a write that fails after writing: its group is rolled back and each
            cursor.execute("INSERT INTO t (name) VALUES (NULL, NULL)")  # write runs again alone
        return f"w{i}"

    outcomes = _threads(db, 12, insert)
    failed = [i for i, (kind, _) in enumerate(outcomes) if kind == "error"]
    assert failed == [5]
    assert isinstance(outcomes[5][1], OperationalError)
    assert sorted(names(db)) == sorted(f"w{i}" for i in range(12) if i != 5)
