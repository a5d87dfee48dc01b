"""A redis-server of a test's own, which it may stop and start without touching the Redis that
anything else uses."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest
import redis

from tests.support import free_port, missing, port_open, wait_for


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

    def llen(self, key: str) -> int:
        return redis.Redis(port=self.port).llen(key)


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        missing("redis-server is needed to break a broker connection")
    s = RedisServer(str(tmp_path))
    s.start()
    yield s
    if s.proc.poll() is None:
        s.stop()
