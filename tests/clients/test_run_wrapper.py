"""`switchboard_hooks.py run -- <command>`: any CLI agent (Aider, Amp, Goose, a script) reported
as an agent while it runs, with real child processes; and `notify aider`, Aider's
--notifications-command, marking the wrapped agent as waiting for input."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apps.agents.models import Agent, AgentCommand, AgentEvent, AgentStatus, CommandStatus
from tests.clients.conftest import HOOKS, Hooks, status_trail, warm_up
from tests.conftest import make_key
from tests.support import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hooks(live, project, tmp_path: Path) -> Hooks:
    key = make_key(project, "write")
    warm_up(live.url, key)
    return Hooks(tmp_path, live.url, key)


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_command_that_exits_0_is_stopped(hooks: Hooks, tmp_path: Path) -> None:
    result = hooks("run", "--name", "nightly-lint", "--", *py("print('linted')"))
    assert result.returncode == 0, hooks.log()
    assert result.stdout.strip() == b"linted"  # the child's own stdout, passed through
    agent = Agent.objects.get(name="nightly-lint")
    assert agent.kind == "custom"  # "python3" names no known agent
    assert agent.status == AgentStatus.STOPPED and agent.status_reason == "exited (code 0)"
    assert status_trail(agent) == ["working", "stopped"]
    assert agent.metadata["command"][0] == sys.executable


def test_a_failing_command_is_an_error_with_its_code(hooks: Hooks) -> None:
    result = hooks("run", "--kind", "aider", "--", *py("import sys; sys.exit(3)"),
                   SWITCHBOARD_AGENT_NAME="refactor-bot")
    assert result.returncode == 3
    agent = Agent.objects.get(name="refactor-bot")
    assert agent.kind == "aider"
    assert agent.status == AgentStatus.ERROR and agent.status_reason == "exited with code 3"
    error = AgentEvent.objects.get(agent=agent, kind="agent.error")
    assert error.data["message"] == "exited with code 3"


def test_the_kind_comes_from_the_command_name(hooks: Hooks, tmp_path: Path) -> None:
    goose = tmp_path / "bin" / "goose"
    goose.parent.mkdir()
    goose.write_text("#!/bin/sh\nread line\necho \"goose got $line\"\n")
    goose.chmod(0o755)
    result = subprocess.run([sys.executable, str(HOOKS), "run", "--", str(goose)],
                            input=b"hello\n", capture_output=True, env=hooks.env(),
                            timeout=30, cwd=tmp_path)
    assert result.stdout == b"goose got hello\n"  # stdin passed through too
    agent = Agent.objects.get(kind="goose")
    assert agent.name == tmp_path.name  # the folder, with no name given


def test_a_killed_command_and_its_signal(hooks: Hooks, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, str(HOOKS), "run", "--name", "sleeper", "--",
                             *py("import time; time.sleep(60)")], env=hooks.env())
    try:
        wait_for(lambda: Agent.objects.filter(name="sleeper", status="working").exists(),
                 timeout=30, message="the wrapper to report")
        proc.send_signal(signal.SIGTERM)  # forwarded to the child, which dies of it
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    agent = Agent.objects.get(name="sleeper")
    assert agent.status == AgentStatus.ERROR and agent.status_reason == "killed by SIGTERM"


def test_a_long_command_heartbeats_and_obeys_a_stop(hooks: Hooks, admin_user) -> None:
    from apps.agents.services import agent_action

    proc = subprocess.Popen([sys.executable, str(HOOKS), "run", "--name", "long-build", "--",
                             *py("import time; time.sleep(60)")],
                            env=hooks.env(SWITCHBOARD_HEARTBEAT="0.5"))
    try:
        agent = wait_for(lambda: Agent.objects.filter(name="long-build").first(), timeout=30,
                         message="the wrapper to register")
        first = agent.last_heartbeat_at
        wait_for(lambda: Agent.objects.get(pk=agent.pk).last_heartbeat_at > first, timeout=30,
                 message="a heartbeat while the child runs")
        command = agent_action(agent=agent, action="stop", actor=admin_user)
        started = time.monotonic()
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
    command = AgentCommand.objects.get(pk=command.pk)
    assert command.status == CommandStatus.ACKED
    agent.refresh_from_db()
    assert agent.status == AgentStatus.STOPPED
    assert agent.status_reason.startswith("stopped by")


def test_notify_aider_marks_the_wrapped_agent_waiting(hooks: Hooks) -> None:
    # What Aider does at its prompt with --notifications-command "... notify aider".
    script = (f"import subprocess, sys, time; subprocess.run([sys.executable, {str(HOOKS)!r}, "
              "'notify', 'aider']); time.sleep(1)")
    result = hooks("run", "--kind", "aider", "--name", "pair", "--", *py(script))
    assert result.returncode == 0, hooks.log()
    agent = Agent.objects.get(name="pair")
    assert status_trail(agent) == ["working", "blocked", "stopped"]
    blocked = AgentEvent.objects.get(agent=agent, kind="agent.blocked")
    assert blocked.data["reason"] == "waiting for input"
    assert Agent.objects.count() == 1  # the notification found the wrapper's agent


def test_a_down_server_never_stops_the_command(hooks: Hooks, closed_url: str) -> None:
    started = time.monotonic()
    result = hooks("run", "--", *py("print('still runs')"), SWITCHBOARD_URL=closed_url,
                   SWITCHBOARD_TIMEOUT="1")
    assert result.returncode == 0 and result.stdout.strip() == b"still runs"
    assert time.monotonic() - started < 10
    assert [e["type"] for e in hooks.spooled()] == ["agent.register", "agent.status",
                                                    "agent.status"]
    notified = hooks("notify", "aider", SWITCHBOARD_URL=closed_url, SWITCHBOARD_TIMEOUT="1")
    assert notified.returncode == 0 and notified.stdout == b""
