"""The real Claude Code CLI (from npm, pinned) with its own telemetry on
(CLAUDE_CODE_ENABLE_TELEMETRY=1, OTLP/HTTP to the running platform) and our hooks installed:
the session is one agent, each tool call one span finished once, each API request one usage
row carrying the cost Claude Code computed, and Claude Code's counters are kept."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.agents.models import Agent, AgentEvent, ToolSpan
from apps.otlp.models import Counter
from apps.telemetry.models import TokenUsage
from tests.clients.claude_cli import Claude
from tests.clients.conftest import warm_up
from tests.clients.fake_anthropic import FakeAnthropic
from tests.conftest import make_key

pytestmark = pytest.mark.django_db(transaction=True)


def exported(snippet: str) -> dict[str, str]:
    """The variables a shell snippet of `export NAME=value` lines sets."""
    out = {}
    for line in snippet.splitlines():
        if line.startswith("export "):
            name, _, value = shlex.split(line[len("export "):])[0].partition("=")
            out[name] = value
    return out


class TelemetryClaude(Claude):
    """Claude with the OpenTelemetry settings the Connect page shows (apps/projects/connect.py)
    pointed at Switchboard: what a user pastes is what runs here."""

    protocol = "http/protobuf"

    def env(self, **extra: str) -> dict[str, str]:
        from apps.projects.connect import claude_code

        guide = claude_code(self.url, self.key)
        snippet = next(s.body for s in guide.snippets if "CLAUDE_CODE_ENABLE_TELEMETRY" in s.body)
        env = super().env(**extra)
        env.pop("DISABLE_TELEMETRY", None)
        env.update(exported(snippet))
        env.update({
            "OTEL_EXPORTER_OTLP_PROTOCOL": self.protocol,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",  # quicker than the defaults, for the test
            "OTEL_LOGS_EXPORT_INTERVAL": "500",
        })
        return env


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_hooks_and_native_telemetry_make_one_agent_counted_once(live, project, api, tmp_path:
                                                                Path, protocol: str) -> None:
    key = make_key(project, "write")
    warm_up(live.url, key)
    TelemetryClaude.protocol = protocol
    claude = TelemetryClaude(tmp_path, api.url, live.url, key)
    api.script("LEDGER", [
        {"tools": [{"name": "Bash", "input": {"command": "echo one", "description": "one"}}]},
        {"tools": [{"name": "Bash", "input": {"command": "echo two", "description": "two"}}]},
        {"text": "Done."},
    ])
    result, messages = claude.run("LEDGER reconcile", "--allowedTools", "Bash")
    assert result.returncode == 0, result.stderr
    session = messages[-1]["session_id"]

    agent = Agent.objects.get(external_id=session)  # the hook's agent, joined by session.id
    assert Agent.objects.filter(kind="claude-code").count() == 1, claude.log()
    assert agent.metadata["labels"] == {"team": "platform"}  # from OTEL_RESOURCE_ATTRIBUTES
    assert agent.metadata["client"].startswith("switchboard")  # and the hook's own metadata

    spans = list(ToolSpan.objects.filter(agent=agent))
    assert len(spans) == 2 and all(s.outcome == "ok" for s in spans)
    for span in spans:
        assert AgentEvent.objects.filter(kind="span.finished",
                                         data__span_id=span.span_id).count() == 1

    # Every API request Claude Code made for this conversation, once, with its own cost.
    asked = [r for r in api.requests if r["path"].endswith("/messages")
             and "LEDGER" in str(r["body"].get("messages", ""))[:20000]]
    rows = list(TokenUsage.objects.filter(agent=agent))
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys)) and all(k.startswith("req_") for k in keys)
    assert len(rows) >= len(asked) == 3, claude.log()
    main = [r for r in rows if r.tokens_cache_read == 15000]
    assert len(main) == 3
    assert all(r.cost_source == "client" and r.cost_usd > 0 for r in main)
    names = set(Counter.objects.filter(agent=agent).values_list("name", flat=True))
    assert {"claude_code.session.count", "claude_code.token.usage",
            "claude_code.cost.usage"} <= names
