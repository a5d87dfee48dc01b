"""A batch's query count does not grow with its size (PostgreSQL: at most 3 in the steady
state: the agents' SELECT and one statement for everything else)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.otlp.emitters import claude_code_logs

pytestmark = pytest.mark.django_db
PROTOBUF = "application/x-protobuf"


def batch(size: int, start: int) -> bytes:
    events = []
    for i in range(start, start + size):
        kind = i % 3
        if kind == 0:
            events.append(("api_request", {"request_id": f"req_{i}", "model": "claude-sonnet-4-5",
                                           "input_tokens": 10, "output_tokens": 5,
                                           "cost_usd": 0.001}))
        elif kind == 1:
            events.append(("tool_result", {"tool_use_id": f"toolu_{i}", "tool_name": "Bash",
                                           "success": "true", "duration_ms": "20"}))
        else:
            events.append(("user_prompt", {"prompt_length": "10"}))
    return claude_code_logs("steady", events=events).SerializeToString()


def statements(otlp, body: bytes) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert otlp.post("logs", body, PROTOBUF).status_code == 200
    return len([q for q in queries.captured_queries
                if "SAVEPOINT" not in q["sql"].upper()])


def test_the_query_count_does_not_grow_with_the_batch(otlp) -> None:
    statements(otlp, batch(3, 0))  # registers the session
    small = statements(otlp, batch(10, 100))
    large = statements(otlp, batch(100, 1000))
    assert small == large
    if connection.vendor == "postgresql":
        assert large <= 3
