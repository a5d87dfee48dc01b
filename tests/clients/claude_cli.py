"""The real Claude Code CLI, from npm, run headless against the fake Anthropic API with our hook
installed in a throw-away HOME.

The package is installed once per version into a cache outside the clone
(`$SWITCHBOARD_NODE_TOOLS/claude-code-<version>`, default `~/.cache/switchboard/node-tools`), so
CI pays for the download once per machine. The native binary comes in the platform package
`@anthropic-ai/claude-code-linux-x64`; we run it directly (the wrapper's postinstall is not
needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.clients.agent_cli import AgentCli
from tests.clients.node_tools import arch, npm_binary

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "clients" / "claude-code" / "switchboard_hook.py"
VERSION = "2.1.332"
HOOK_EVENTS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse",
               "PostToolUseFailure", "PermissionRequest", "Notification", "Stop", "StopFailure",
               "SubagentStart", "SubagentStop", "SessionEnd")
SAMPLES = Path(__file__).with_name("samples")


def claude_binary() -> Path:
    package = f"@anthropic-ai/claude-code-linux-{arch()}"
    return npm_binary(f"Claude Code {VERSION}", f"claude-code-{VERSION}",
                      [f"@anthropic-ai/claude-code@{VERSION}", f"{package}@{VERSION}"],
                      f"{package}/claude")


class Claude(AgentCli):
    """`claude -p` in a folder of its own, HOME in a temp folder, every hook event wired to our
    hook, the API at `api_url`, Switchboard at `url` with `key`."""

    def __init__(self, tmp: Path, api_url: str, url: str, key: str,
                 folder: str = "payments-api") -> None:
        super().__init__(tmp, url, key, folder)
        self.binary = claude_binary()
        (self.home / ".claude").mkdir(parents=True, exist_ok=True)
        self.api_url = api_url
        self.install()

    def install(self, **hook_env: str) -> None:
        """The hooks as a user installs them (`switchboard_hook.py --install`), plus `env`."""
        path = self.home / ".claude" / "settings.json"
        path.unlink(missing_ok=True)
        subprocess.run([sys.executable, str(HOOK), "--install", str(path)], check=True,
                       capture_output=True, timeout=30)
        settings = json.loads(path.read_text())
        assert set(settings["hooks"]) == set(HOOK_EVENTS)
        settings["env"] = hook_env
        path.write_text(json.dumps(settings))

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **self.hook_env(keepalive="2"),
            "ANTHROPIC_BASE_URL": self.api_url,
            "ANTHROPIC_API_KEY": "sk-ant-test-key",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
        }
        env.update(extra)
        return env

    def run(self, prompt: str, *args: str, timeout: float = 120, **env: str
            ) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
        """Runs to completion; returns the process and its stream-json messages."""
        result = subprocess.run(
            [str(self.binary), "-p", prompt, "--output-format", "stream-json", "--verbose",
             *args], cwd=self.cwd, env=self.env(**env), capture_output=True, text=True,
            timeout=timeout)
        messages = []
        for line in result.stdout.splitlines():
            try:
                messages.append(json.loads(line))
            except ValueError:
                pass
        return result, messages

    def start(self, prompt: str, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.binary), "-p", prompt, "--output-format", "stream-json", "--verbose",
             *args], cwd=self.cwd, env=self.env(**env), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)

