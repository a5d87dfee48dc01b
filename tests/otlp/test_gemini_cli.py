"""The real Gemini CLI (from npm, pinned) run headless (`gemini -p`) against the fake Gemini API,
with its own telemetry on (GEMINI_TELEMETRY_ENABLED, target local, OTLP over HTTP to the running
platform; the JavaScript exporters send OTLP/JSON, chunked, and take the project key from
OTEL_EXPORTER_OTLP_HEADERS). `gemini -p` flushes its exporters before it exits.

What Gemini CLI 0.61 sends (captured from the real CLI): `session.id` on the resource and on
every record; per model call a `gemini_cli.api_response` (no response id; input includes the
cached tokens, thinking apart) and a `gen_ai.client.inference.operation.details` copy; per tool
call a `gemini_cli.tool_call` (no call id; a shell command's exit code in `metadata`) and a
`tool_call` span; metrics carrying session.id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.agents.models import Agent, AgentEvent, ToolSpan
from apps.telemetry.models import TokenUsage
from tests.clients.conftest import warm_up
from tests.clients.fake_gemini import FakeGemini
from tests.clients.gemini_cli import Gemini
from tests.conftest import make_key
from tests.otlp.relay import Relay

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def relay(live) -> Iterator[Relay]:
    with Relay(live.url) as relay:
        yield relay


def shell(command: str) -> dict:
    return {"call": {"name": "run_shell_command", "args": {"command": command}}}


def run(live, project, api: FakeGemini, relay: Relay, tmp_path: Path, *, hooks: bool
        ) -> tuple[Gemini, str]:
    key = make_key(project, "write")
    warm_up(live.url, key)
    gemini = Gemini(tmp_path, api.url, live.url, key, hooks=hooks)
    api.script("LEDGER", [shell("echo balanced"), shell("echo broken; exit 3"),
                          {"text": "The ledger balances."}])
    result, answer = gemini.run(
        "LEDGER check the ledger", GEMINI_TELEMETRY_ENABLED="true",
        GEMINI_TELEMETRY_TARGET="local", GEMINI_TELEMETRY_OTLP_ENDPOINT=relay.url,
        GEMINI_TELEMETRY_OTLP_PROTOCOL="http",
        OTEL_EXPORTER_OTLP_HEADERS=f"Authorization=Bearer {key}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Export failed" not in result.stdout + result.stderr, result.stderr[-3000:]
    assert relay.signals() == {"logs", "traces", "metrics"}
    assert not relay.refused(), relay.refused()
    return gemini, answer["session_id"]


def test_native_telemetry_alone_reports_the_session(live, project, api, relay,
                                                    tmp_path: Path) -> None:
    gemini, sid = run(live, project, api, relay, tmp_path, hooks=False)

    assert list(Agent.objects.values_list("external_id", "kind")) == [(sid, "gemini-cli")]
    agent = Agent.objects.get()
    assert agent.model == "gemini-2.5-flash"

    spans = list(ToolSpan.objects.filter(agent=agent).order_by("finished_at"))
    assert [(s.tool_name, s.outcome) for s in spans] == [("run_shell_command", "ok"),
                                                         ("run_shell_command", "error")]
    assert spans[1].error == "exit code 3"
    assert all(s.latency_ms is not None for s in spans)
    for span in spans:
        assert AgentEvent.objects.filter(kind="span.finished",
                                         data__span_id=span.span_id).count() == 1

    # Three model calls of 3000 prompt tokens (1000 cached), 80 output and 12 thinking each.
    rows = TokenUsage.objects.filter(agent=agent)
    assert rows.count() == 3, list(rows.values("key", "tokens_input"))
    assert sum(r.tokens_input for r in rows) == 3 * 2000
    assert sum(r.tokens_cache_read for r in rows) == 3 * 1000
    assert sum(r.tokens_output for r in rows) == 3 * 80
    assert sum(r.tokens_reasoning for r in rows) == 3 * 12


def test_hooks_and_native_telemetry_make_one_agent_counted_once(live, project, api, relay,
                                                                tmp_path: Path) -> None:
    gemini, sid = run(live, project, api, relay, tmp_path, hooks=True)

    assert list(Agent.objects.values_list("external_id", "kind")) == [(sid, "gemini-cli")], \
        gemini.log()
    agent = Agent.objects.get()
    assert agent.metadata["client"].startswith("switchboard")
    # Neither the hooks nor the OTLP event carry Gemini's call id: the hooks' spans stand alone.
    spans = list(ToolSpan.objects.filter(agent=agent).order_by("finished_at"))
    assert [(s.tool_name, s.span_id.startswith("gemini-cli-")) for s in spans] == [
        ("run_shell_command", True)] * 2, [(s.span_id, s.outcome, s.error) for s in spans]
    # The failing command: its exit code read from the shell tool's result text by the hook.
    assert [(s.outcome, s.error) for s in spans] == [("ok", ""), ("error", "exit code 3")]
    for span in spans:
        assert AgentEvent.objects.filter(kind="span.finished",
                                         data__span_id=span.span_id).count() == 1
    rows = TokenUsage.objects.filter(agent=agent)
    assert rows.count() == 3, list(rows.values("key", "tokens_input"))
