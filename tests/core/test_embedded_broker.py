"""The embedded broker never hands the worker a half-written message."""

from __future__ import annotations

import os
from queue import Empty

import pytest
from kombu import Connection

from apps.core.embedded_broker import ALIAS


@pytest.fixture
def channel(tmp_path):
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder),
               "control_folder": str(tmp_path), "store_processed": False}
    with Connection(f"{ALIAS}://", transport_options=options) as conn:
        yield conn.default_channel, folder


def test_a_message_being_written_is_not_taken(channel):
    chan, folder = channel
    # What a producer looks like mid-write: the file exists but holds nothing yet.
    (folder / "1_abc.work.msg.part").write_bytes(b"")
    with pytest.raises(Empty):
        chan._get("work")


def test_it_delivers_what_was_put_in_order(channel):
    chan, folder = channel
    for n in range(50):  # many within one millisecond
        chan._put("work", {"n": n})
    assert not [name for name in os.listdir(folder) if name.endswith(".part")]
    assert [chan._get("work")["n"] for _ in range(50)] == list(range(50))
    with pytest.raises(Empty):
        chan._get("work")
