"""The real Codex CLI, from npm (pinned), run headless (`codex exec`) against the fake Responses
API with our hooks installed by `switchboard_hooks.py install codex`, HOME and CODEX_HOME in a
temp folder. The native binary comes in the platform package `@openai/codex-linux-<arch>` (an
npm alias of `@openai/codex@<version>-linux-<arch>`); we run it directly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.clients.agent_cli import AgentCli
from tests.clients.node_tools import arch, npm_binary

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / "clients" / "hooks" / "switchboard_hooks.py"
VERSION = "0.171.0"
TRIPLES = {"x64": "x86_64-unknown-linux-musl", "arm64": "aarch64-unknown-linux-musl"}


def codex_binary() -> Path:
    package = f"@openai/codex-linux-{arch()}"
    return npm_binary(
        f"Codex {VERSION}", f"codex-{VERSION}",
        [f"@openai/codex@{VERSION}", f"{package}@npm:@openai/codex@{VERSION}-linux-{arch()}"],
        f"{package}/vendor/{TRIPLES.get(arch(), arch())}/bin/codex")


class Codex(AgentCli):
    """`codex exec` in a folder of its own, the model provider `fake` at `api_url`, Switchboard
    at `url` with `key`."""

    def __init__(self, tmp: Path, api_url: str, url: str, key: str,
                 folder: str = "billing-service", hooks: bool = True) -> None:
        super().__init__(tmp, url, key, folder)
        self.binary = codex_binary()
        self.codex_home = self.home / ".codex"
        self.codex_home.mkdir(parents=True, exist_ok=True)
        (self.codex_home / "config.toml").write_text(
            'model = "fake-codex-1"\nmodel_provider = "fake"\n\n[model_providers.fake]\n'
            f'name = "fake"\nbase_url = "{api_url}"\nwire_api = "responses"\n'
            'env_key = "FAKE_OPENAI_KEY"\n')
        if hooks:
            self.install()

    def install(self) -> dict[str, Any]:
        """The hooks as a user installs them (`switchboard_hooks.py install codex`)."""
        subprocess.run([sys.executable, str(HOOKS), "install", "codex"], check=True,
                       capture_output=True, timeout=30, env=self.env())
        return json.loads((self.codex_home / "hooks.json").read_text())

    def env(self, **extra: str) -> dict[str, str]:
        env = {**self.hook_env(), "CODEX_HOME": str(self.codex_home),
               "FAKE_OPENAI_KEY": "sk-test"}
        env.update(extra)
        return env

    def args(self, prompt: str) -> list[str]:
        # Hooks from ~/.codex run only once trusted (the TUI's /hooks); headless automation
        # vouches for them with this flag. No sandbox: the test machine may lack bubblewrap.
        return [str(self.binary), "exec", "--skip-git-repo-check", "--dangerously-bypass-hook-trust",
                "--dangerously-bypass-approvals-and-sandbox", prompt]

    def run(self, prompt: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.args(prompt), cwd=self.cwd, env=self.env(**env),
                              capture_output=True, text=True, timeout=timeout)

    def start(self, prompt: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.args(prompt), cwd=self.cwd, env=self.env(**env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

