"""SQLite in `manage.py serve`: writers of the process wait in line for one another
(apps/core/db/sqlite3/base.py) instead of polling SQLite's lock with sleeps. PostgreSQL locks
rows, not the database: there the queue never engages and writers overlap."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from apps.core.db.sqlite3.base import enable_writer_queue, writer_lock
from apps.projects.models import Project

SQLITE = connection.vendor == "sqlite"


@pytest.fixture
def queue():
    enable_writer_queue()
    yield
    enable_writer_queue(False)


def _free() -> bool:
    if writer_lock.acquire(blocking=False):
        writer_lock.release()
        return True
    return False


def test_a_second_writer_starts_the_moment_the_first_commits(queue, transactional_db):
    committed: dict[str, float] = {}
    started: dict[str, float] = {}
    holding = threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                Project.objects.create(name="First", slug="first")
                holding.set()
                time.sleep(0.4)
            committed["at"] = time.monotonic()
        finally:
            connection.close()

    def second() -> None:
        try:
            holding.wait(5)
            with transaction.atomic():
                started["at"] = time.monotonic()
                Project.objects.create(name="Second", slug="second")
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert Project.objects.filter(slug__in=["first", "second"]).count() == 2
    if SQLITE:  # in line, not in SQLite's busy handler (whose sleeps grow to 100 ms)
        assert 0 <= started["at"] - committed["at"] < 0.05, started["at"] - committed["at"]
    else:  # PostgreSQL: the second wrote while the first still held its transaction
        assert started["at"] < committed["at"]
    assert _free()


def test_the_lock_is_let_go_on_rollback_and_held_only_in_a_transaction(queue, transactional_db):
    with pytest.raises(RuntimeError), transaction.atomic():
        Project.objects.create(name="Gone", slug="gone")
        assert _free_elsewhere() is not SQLITE  # held on SQLite only
        raise RuntimeError("roll back")
    assert _free()
    assert not Project.objects.filter(slug="gone").exists()
    Project.objects.create(name="Autocommit", slug="auto")  # no transaction: no lock kept
    assert _free()


def test_off_unless_serve_turns_it_on(transactional_db):
    with transaction.atomic():
        Project.objects.create(name="Free", slug="free")
        assert _free_elsewhere()


def _free_elsewhere() -> bool:
    """Whether another thread could take the lock now (an RLock is re-entrant here)."""
    result: list[bool] = []
    probe = threading.Thread(target=lambda: result.append(_free()))
    probe.start()
    probe.join(5)
    return result[0]
