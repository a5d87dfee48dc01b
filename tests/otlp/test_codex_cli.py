"""The real Codex CLI (from npm, pinned) run headless (`codex exec`) against the fake Responses
API with its own OpenTelemetry export on: `[otel]` in config.toml sends logs, traces and metrics
over OTLP/HTTP (protobuf or JSON) to the running platform, the project key in `headers`.

What Codex 0.171 sends (captured from the real binary): logs of the scope `codex_otel.log_only`
named in an `event.name` attribute (`codex.conversation_starts`, `codex.user_prompt`,
`codex.api_request`, `codex.sse_event`, `codex.tool_decision`, `codex.tool_result`), each with
`conversation.id` (the id the hooks get as session_id) and no response id; traces of its own
Rust code (`fs.read_file`, `handle_responses`, ...) whose `thread.id` is mostly an OS thread
number; metrics (delta sums and histograms) with no conversation id at all. `codex exec`
flushes every exporter on exit, so everything is in before the process ends.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.agents.models import Agent, AgentEvent, ToolSpan
from apps.telemetry.models import TokenUsage
from tests.clients.codex_cli import Codex
from tests.clients.conftest import warm_up
from tests.clients.fake_responses import FakeResponses
from tests.conftest import make_key
from tests.otlp.relay import Relay

pytestmark = pytest.mark.django_db(transaction=True)


class TelemetryCodex(Codex):
    """Codex with the `[otel]` table the Connect page shows (apps/projects/connect.py), pointed
    at Switchboard for all three signals: what a user pastes is what runs here."""

    def __init__(self, *args, otel_url: str, protocol: str = "binary", **kwargs) -> None:
        from apps.projects.connect import codex as codex_guide

        super().__init__(*args, **kwargs)
        guide = codex_guide(otel_url, self.key)
        table = next(s.body for s in guide.snippets if s.lang == "toml")
        assert table.startswith("[otel]") and 'protocol = "binary"' in table
        config = self.codex_home / "config.toml"
        config.write_text(config.read_text() + "\n" + table.replace(
            'protocol = "binary"', f'protocol = "{protocol}"') + "\n")


@pytest.fixture
def api() -> Iterator[FakeResponses]:
    with FakeResponses() as fake:
        yield fake


def shell(cmd: str) -> dict:
    return {"call": {"name": "exec_command", "arguments": {"cmd": cmd}}}


def conversation(result) -> str:
    found = re.search(r"session id: ([0-9a-f-]{36})", result.stderr)
    assert found, result.stderr[-3000:]
    return found.group(1)


@pytest.fixture
def relay(live) -> Iterator[Relay]:
    with Relay(live.url) as relay:
        yield relay


def run(live, project, api: FakeResponses, relay: Relay, tmp_path: Path, *, hooks: bool,
        protocol: str = "binary") -> tuple[TelemetryCodex, str]:
    key = make_key(project, "write")
    warm_up(live.url, key)
    codex = TelemetryCodex(tmp_path, api.url, live.url, key, hooks=hooks, protocol=protocol,
                           otel_url=relay.url)
    api.script("LEDGER", [shell("echo balanced"), shell("echo broken; exit 3"),
                          {"text": "The ledger balances."}])
    result = codex.run("LEDGER check the ledger")
    assert result.returncode == 0, result.stderr[-3000:]
    # `codex exec` flushes its exporters on exit: everything is in when it returns.
    assert relay.signals() == {"logs", "traces", "metrics"}
    assert not relay.refused()
    return codex, conversation(result)


def assert_counted_once(agent: Agent) -> None:
    """Three model calls of 2000 input (1500 cached) and 120 output (20 reasoning) each."""
    rows = TokenUsage.objects.filter(agent=agent)
    assert rows.count() == 3, list(rows.values("key", "tokens_input"))
    assert sum(r.tokens_input for r in rows) == 3 * 500
    assert sum(r.tokens_cache_read for r in rows) == 3 * 1500
    assert sum(r.tokens_output for r in rows) == 3 * 100
    assert sum(r.tokens_reasoning for r in rows) == 3 * 20
    assert all(r.model == "fake-codex-1" for r in rows)


@pytest.mark.parametrize("protocol", ["binary", "json"])
def test_native_telemetry_alone_reports_the_conversation(live, project, api, relay,
                                                         tmp_path: Path, protocol: str) -> None:
    codex, sid = run(live, project, api, relay, tmp_path, hooks=False, protocol=protocol)

    assert list(Agent.objects.values_list("external_id", "kind")) == [(sid, "codex")]
    agent = Agent.objects.get()
    assert agent.model == "fake-codex-1"

    spans = list(ToolSpan.objects.filter(agent=agent).order_by("started_at"))
    assert len(spans) == 2, list(spans)
    ok, failed = spans
    assert ok.span_id.startswith("call_") and failed.span_id.startswith("call_")
    assert ok.outcome == "ok" and ok.latency_ms is not None
    assert failed.outcome == "error" and failed.error == "exit code 3"
    for span in spans:
        assert AgentEvent.objects.filter(kind="span.finished",
                                         data__span_id=span.span_id).count() == 1
    assert_counted_once(agent)


def test_hooks_and_native_telemetry_make_one_agent_counted_once(live, project, api, relay,
                                                                tmp_path: Path) -> None:
    codex, sid = run(live, project, api, relay, tmp_path, hooks=True)

    # The hooks' session_id is Codex's conversation.id: one agent, whichever path told first.
    assert list(Agent.objects.values_list("external_id", "kind")) == [(sid, "codex")], codex.log()
    agent = Agent.objects.get()
    assert agent.metadata["client"].startswith("switchboard")
    assert agent.metadata["otel"]["service.name"] == "codex_exec"

    spans = list(ToolSpan.objects.filter(agent=agent).order_by("started_at"))
    assert [s.outcome for s in spans] == ["ok", "error"], codex.log()
    assert spans[1].error == "exit code 3"
    for span in spans:
        assert AgentEvent.objects.filter(kind="span.finished",
                                         data__span_id=span.span_id).count() == 1
    assert_counted_once(agent)
