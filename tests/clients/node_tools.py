"""The agents' real CLIs from npm, installed once per machine outside the clone, at pinned
versions: ~/.cache/switchboard/node-tools/<name>-<version> (SWITCHBOARD_NODE_TOOLS overrides).
Under CI=true a missing npm or a failed install fails the test (tests.support.missing)."""

from __future__ import annotations

import fcntl
import os
import platform
import shutil
import subprocess
from pathlib import Path

from tests.support import missing


def tools_dir() -> Path:
    explicit = os.environ.get("SWITCHBOARD_NODE_TOOLS")
    return Path(explicit) if explicit else Path.home() / ".cache" / "switchboard" / "node-tools"


def arch() -> str:
    """npm's name for this machine's architecture (x64, arm64)."""
    machine = platform.machine().lower()
    return {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine)


def npm_binary(label: str, folder: str, packages: list[str], binary: str) -> Path:
    """`binary` (a path under the install folder's node_modules) of `packages`, installed into
    tools_dir()/folder unless it is there already."""
    home = tools_dir() / folder
    path = home / "node_modules" / binary
    if path.exists():
        return path
    if not shutil.which("npm"):
        missing(f"npm is needed to install the {label} CLI")
    home.mkdir(parents=True, exist_ok=True)
    # CI runs its two passes at once: one installs, the other waits for it and reuses it.
    with open(tools_dir() / f".{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return path
        (home / "package.json").write_text('{"private": true}\n')
        result = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact",
             *packages], cwd=home, capture_output=True, text=True, timeout=900)
    if result.returncode != 0 or not path.exists():
        missing(f"npm install of {label} failed:\n{result.stderr[-2000:]}")
    return path
