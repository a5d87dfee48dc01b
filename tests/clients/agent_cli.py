"""What the drivers of the real agent CLIs (claude_cli, codex_cli, gemini_cli) share: a working
folder of their own, HOME and the hook's state in a temp folder, the variables our hooks read,
and the hook's own log for assertion messages."""

from __future__ import annotations

import os
from pathlib import Path


def hook_log(state: Path, names: tuple[str, ...] = ("hook.log", "rejected.jsonl")) -> str:
    """The hook's account of failed sends and rejected events (the tail of each file)."""
    parts = []
    for name in names:
        path = state / name
        if path.exists():
            parts.append(f"{name}:\n{path.read_text()[-3000:]}")
    return "\n".join(parts) or "(no hook log)"


class AgentCli:
    def __init__(self, tmp: Path, url: str, key: str, folder: str) -> None:
        self.home = tmp / "home"
        self.state = tmp / "state"
        self.cwd = tmp / folder
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.key = key

    def hook_env(self, keepalive: str = "0") -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "SWITCHBOARD_URL": self.url,
            "SWITCHBOARD_API_KEY": self.key,
            "SWITCHBOARD_STATE_DIR": str(self.state),
            "SWITCHBOARD_TIMEOUT": "10",
            "SWITCHBOARD_DEBUG": "1",
            "SWITCHBOARD_KEEPALIVE": keepalive,
        }

    def log(self) -> str:
        return hook_log(self.state, ("hook.log", "rejected.jsonl", "spool.jsonl"))
