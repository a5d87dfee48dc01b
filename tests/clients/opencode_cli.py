"""The real OpenCode CLI, from npm, run headless against the fake OpenAI API with our plugin
installed in a throw-away project and HOME.

The package is installed once per version into a cache outside the clone
(`$SWITCHBOARD_NODE_TOOLS/opencode-<version>`, default `~/.cache/switchboard/node-tools`); the
native binary is in the platform package `opencode-linux-<arch>` and we run it directly (the
wrapper's postinstall is not needed).

What the binary does at start-up, learned by running it: it `npm install`s `@opencode-ai/plugin`
into every config folder that has plugins (`~/.config/opencode`, `<project>/.opencode`), so the
npm cache is pointed at the tools folder (`npm_config_cache`, prefer-offline) and only the first
run on a machine downloads it. `@ai-sdk/openai-compatible` is built into the binary. The
OPENCODE_DISABLE_* variables below (names from the binary's strings) keep it off the network
otherwise: no auto-update, no models.dev fetch, no share, no LSP downloads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.clients.node_tools import arch, npm_binary, tools_dir
from tests.support import free_port, port_open, wait_for

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "clients" / "opencode" / "switchboard.ts"
VERSION = "1.18.33"
MODEL = "fake-coder-1"
# $ per million tokens: OpenCode computes each message's `cost` from these.
PRICES = {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75}
QUIET = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",
    "OPENCODE_DISABLE_TERMINAL_TITLE": "1",
}


def opencode_binary() -> Path:
    package = f"opencode-linux-{arch()}"
    return npm_binary(f"OpenCode {VERSION}", f"opencode-{VERSION}",
                      [f"opencode-ai@{VERSION}", f"{package}@{VERSION}"], f"{package}/bin/opencode")


class OpenCode:
    """`opencode run` (or `serve`) in a project folder of its own with our plugin in
    `.opencode/plugins/`, HOME and the XDG folders in a temp folder, the model at `api_url`,
    Switchboard at `url` with `key`."""

    def __init__(self, tmp: Path, api_url: str, url: str, key: str,
                 folder: str = "billing-service", permission: dict[str, Any] | None = None
                 ) -> None:
        self.binary = opencode_binary()
        self.home = tmp / "home"
        self.state = tmp / "state"
        self.cwd = tmp / folder
        (self.cwd / ".opencode" / "plugins").mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(PLUGIN, self.cwd / ".opencode" / "plugins" / "switchboard.ts")
        config: dict[str, Any] = {
            "$schema": "https://opencode.ai/config.json",
            "provider": {"fake": {
                "npm": "@ai-sdk/openai-compatible", "name": "Fake",
                "options": {"baseURL": api_url, "apiKey": "sk-test-key"},
                "models": {MODEL: {"name": "Fake Coder", "cost": PRICES,
                                   "limit": {"context": 100000, "output": 8000}}}}},
            "model": f"fake/{MODEL}", "small_model": f"fake/{MODEL}",
            "autoupdate": False, "share": "disabled",
        }
        if permission:
            config["permission"] = permission
        (self.cwd / "opencode.json").write_text(json.dumps(config, indent=1))
        self.url = url
        self.key = key

    def env(self, **extra: str) -> dict[str, str]:
        home = str(self.home)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "XDG_CONFIG_HOME": f"{home}/.config",
            "XDG_DATA_HOME": f"{home}/.local/share",
            "XDG_CACHE_HOME": f"{home}/.cache",
            "XDG_STATE_HOME": f"{home}/.local/state",
            "npm_config_cache": str(tools_dir() / f"opencode-{VERSION}" / "npm-cache"),
            "npm_config_prefer_offline": "true",
            **QUIET,
            "SWITCHBOARD_URL": self.url,
            "SWITCHBOARD_API_KEY": self.key,
            "SWITCHBOARD_STATE_DIR": str(self.state),
            "SWITCHBOARD_TIMEOUT": "10",
            "SWITCHBOARD_POLL": "1",
        }
        env.update(extra)
        return env

    def command(self, prompt: str, *args: str) -> list[str]:
        return [str(self.binary), "run", "--format", "json", *args, prompt]

    def run(self, prompt: str, *args: str, timeout: float = 180, **env: str
            ) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
        """Runs to completion; returns the process and its JSON events (one a line)."""
        result = subprocess.run(self.command(prompt, *args), cwd=self.cwd, env=self.env(**env),
                                capture_output=True, text=True, timeout=timeout)
        return result, self.parse(result.stdout)

    def start(self, *argv: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(list(argv), cwd=self.cwd, env=self.env(**env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def parse(stdout: str) -> list[dict[str, Any]]:
        events = []
        for line in stdout.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
        return events

    def spooled(self) -> str:
        parts = [f"{p.name}:\n{p.read_text()[-2000:]}" for p in sorted(self.state.glob("*"))]
        return "\n".join(parts) or "(nothing spooled)"


@contextmanager
def serve(opencode: OpenCode) -> Iterator[dict]:
    """`opencode serve` on a free port, with one session made over its HTTP API (yielded)."""
    port = free_port()
    proc = opencode.start(str(opencode.binary), "serve", "--port", str(port),
                          "--hostname", "127.0.0.1")
    try:
        base = f"http://127.0.0.1:{port}/session?directory={opencode.cwd}"

        def answers() -> bool:
            # A request that arrives while `serve` still boots its first instance (it npm
            # installs the plugin types then) can hang for good: ask until one is answered.
            try:
                with urllib.request.urlopen(base, timeout=3) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(lambda: port_open("127.0.0.1", port), timeout=60, message="opencode serve")
        wait_for(answers, timeout=120, interval=0.5, message="opencode serve to answer")
        request = urllib.request.Request(base, data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            yield json.loads(response.read())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except Exception:
            proc.kill()


def bash(command: str, description: str = "run") -> dict:
    return {"name": "bash", "input": {"command": command, "description": description}}
