"""The real Gemini CLI, from npm (pinned), run headless (`gemini -p`) against the fake Gemini API
(tests/clients/fake_gemini.py), HOME in a temp folder.

How it is pointed at the fake, from the CLI's source: GOOGLE_GEMINI_BASE_URL is the base URL of
the genai SDK's requests; alone it selects the "gateway" auth, which headless mode refuses
("Invalid auth method selected"), so settings.json selects `gemini-api-key` and GEMINI_API_KEY
is any string. Folder trust is off (an untrusted folder turns --yolo back into "default"
approvals) and so are usage statistics (Clearcut, off the machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.clients.agent_cli import AgentCli
from tests.clients.node_tools import npm_binary

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / "clients" / "hooks" / "switchboard_hooks.py"
VERSION = "0.61.0"
MODEL = "gemini-2.5-flash"


def gemini_script() -> Path:
    return npm_binary(f"Gemini CLI {VERSION}", f"gemini-cli-{VERSION}",
                      [f"@google/gemini-cli@{VERSION}"], "@google/gemini-cli/bundle/gemini.js")


class Gemini(AgentCli):
    """`gemini -p` in a folder of its own; the model API at `api_url`, Switchboard at `url`."""

    def __init__(self, tmp: Path, api_url: str, url: str, key: str, *, hooks: bool = False,
                 folder: str = "billing-service") -> None:
        super().__init__(tmp, url, key, folder)
        self.script = gemini_script()
        (self.home / ".gemini").mkdir(parents=True, exist_ok=True)
        self.api_url = api_url
        self.settings = self.home / ".gemini" / "settings.json"
        self.settings.write_text(json.dumps({
            "privacy": {"usageStatisticsEnabled": False},
            "security": {"auth": {"selectedType": "gemini-api-key"},
                         "folderTrust": {"enabled": False}}}))
        if hooks:
            subprocess.run([sys.executable, str(HOOKS), "install", "gemini-cli"], check=True,
                           capture_output=True, timeout=30, env=self.env())

    def env(self, **extra: str) -> dict[str, str]:
        env = {**self.hook_env(), "GOOGLE_GEMINI_BASE_URL": self.api_url,
               "GEMINI_API_KEY": "test-key"}
        env.update(extra)
        return env

    def run(self, prompt: str, timeout: float = 120, **env: str
            ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        """The finished run and its JSON result (`--output-format json`: session_id, stats)."""
        result = subprocess.run(
            ["node", str(self.script), "-p", prompt, "-m", MODEL, "--yolo", "--output-format",
             "json"], cwd=self.cwd, env=self.env(**env), capture_output=True, text=True,
            timeout=timeout)
        start = result.stdout.find("{")
        try:
            answer = json.JSONDecoder().raw_decode(result.stdout[start:])[0] if start >= 0 else {}
        except ValueError:
            answer = {}
        return result, answer

