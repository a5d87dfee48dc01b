from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import make_key


class Otlp:
    """POSTs to the intake through Django's test client."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.client = Client()

    def post(self, signal: str, body: bytes, content_type: str = "application/json",
             key: str | None = "default", path: str = "/v1/", **headers: Any) -> Any:
        key = self.key if key == "default" else key
        extra = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
        extra.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
        return self.client.post(f"{path}{signal}", data=body, content_type=content_type,
                                **extra)


@pytest.fixture
def otlp(project) -> Otlp:
    return Otlp(make_key(project))
