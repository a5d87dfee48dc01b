"""Fixtures for the agent-side clients: run the Claude Code hook as Claude Code does (a
subprocess fed JSON on stdin), with its own state folder, against the live platform."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.clients.agent_cli import hook_log
from tests.clients.hook_inputs import Session
from tests.support import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "clients" / "claude-code" / "switchboard_hook.py"
HOOKS = ROOT / "clients" / "hooks" / "switchboard_hooks.py"


class Hook:
    """`python3 switchboard_hook.py` with SWITCHBOARD_* pointing at `url`."""

    def __init__(self, tmp: Path, url: str, key: str) -> None:
        self.url = url
        self.key = key
        self.home = tmp / "home"
        self.state = tmp / "state"
        self.home.mkdir(exist_ok=True)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        env.update({
            "HOME": str(self.home),
            "SWITCHBOARD_URL": self.url,
            "SWITCHBOARD_API_KEY": self.key,
            "SWITCHBOARD_STATE_DIR": str(self.state),
            # Generous: a loaded CI machine can be slow to answer; the default is 2 s, and
            # test_it_gives_up_on_a_server_that_never_answers holds the hook to its budget.
            "SWITCHBOARD_TIMEOUT": "10",
            "SWITCHBOARD_DEBUG": "1",  # hook.log in the state folder says why a send failed
        })
        env.update(extra)
        return env

    def __call__(self, payload: dict[str, Any] | str | bytes, **extra: str
                 ) -> subprocess.CompletedProcess[bytes]:
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        if isinstance(payload, str):
            payload = payload.encode()
        # -I: no site customisation from the environment; the hook needs only the stdlib.
        return subprocess.run([sys.executable, "-I", str(HOOK)], input=payload,
                              capture_output=True, env=self.env(**extra), timeout=30)

    def log(self) -> str:
        """The hook's own account of failed sends and rejected events, for assertion messages."""
        return hook_log(self.state)

    def spooled(self) -> list[dict[str, Any]]:
        """Events in the spool that the server does not have yet."""
        path = self.state / "spool.jsonl"
        if not path.exists():
            return []
        offset_file = self.state / "spool.offset"
        offset = int(offset_file.read_text() or 0) if offset_file.exists() else 0
        with open(path, "rb") as fh:
            fh.seek(offset)
            return [json.loads(line) for line in fh.read().splitlines() if line.strip()]


class Hooks(Hook):
    """`python3 switchboard_hooks.py <args>` (the other agents' adapters, run, notify)."""

    def __call__(self, *args: str, payload: dict[str, Any] | None = None, timeout: float = 30,
                 **extra: str) -> subprocess.CompletedProcess[bytes]:
        data = json.dumps(payload).encode() if payload is not None else b""
        return subprocess.run([sys.executable, "-I", str(HOOKS), *args], input=data,
                              capture_output=True, env=self.env(**extra), timeout=timeout)

    def answer(self, kind: str, payload: dict[str, Any], **extra: str) -> Any:
        """The hook's JSON answer on stdout (None for none); it must exit 0 quietly."""
        result = self("hook", kind, payload=payload, **extra)
        assert result.returncode == 0 and result.stderr == b"", result.stderr
        return json.loads(result.stdout) if result.stdout else None


def warm_up(url: str, key: str) -> None:
    """Wait until the freshly started platform answers an authenticated API request, so a
    test's first hook run is not spent on the server's cold start."""

    def answers() -> bool:
        request = urllib.request.Request(f"{url}/api/v1/agents?limit=1",
                                         headers={"Authorization": f"Bearer {key}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status == 200
        except (OSError, urllib.error.HTTPError):
            return False

    wait_for(answers, timeout=60, interval=0.2, message="the API to answer")


@pytest.fixture
def cc_session(tmp_path: Path) -> Session:
    return Session(tmp_path)


@pytest.fixture
def closed_url() -> str:
    """A loopback port nothing listens on: the server is down."""
    return f"http://127.0.0.1:{free_port()}"


def status_trail(agent: Any) -> list[str]:
    """The statuses an agent went through, from its status-change events, oldest first."""
    from apps.agents.models import AgentEvent

    events = AgentEvent.objects.filter(agent=agent).order_by("id").values_list("data", flat=True)
    return [e["to"] for e in events if isinstance(e, dict) and "to" in e and "from" in e]
