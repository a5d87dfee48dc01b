"""Type-check and compile clients/opencode/switchboard.ts with TypeScript against the real
@opencode-ai/plugin types. The toolchain is installed once with npm, outside the clone
(tests.clients.node_tools), at the pinned versions below."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.clients.node_tools import npm_binary
from tests.support import missing

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "clients" / "opencode" / "switchboard.ts"
DRIVER = Path(__file__).with_name("opencode_driver.mjs")
PACKAGES = ["typescript@7.0.2", "@opencode-ai/plugin@1.18.33", "@types/node@26.6.6"]
TSCONFIG = {
    "compilerOptions": {
        "target": "es2022", "module": "nodenext", "moduleResolution": "nodenext",
        "strict": True, "noImplicitReturns": True, "types": ["node"], "outDir": "out",
        "skipLibCheck": True,
    },
    "files": ["switchboard.ts"],
}


def toolchain() -> Path:
    if not shutil.which("node"):
        missing("node is needed to check the OpenCode plugin")
    versions = "_".join(p.rsplit("@", 1)[1] for p in PACKAGES)
    tsc = npm_binary("the TypeScript toolchain", f"opencode-plugin-types-{versions}", PACKAGES,
                     ".bin/tsc")
    return tsc.parent.parent.parent


def build(workdir: Path) -> Path:
    """Compile the plugin; a type error fails here with tsc's messages."""
    tools = toolchain()
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(PLUGIN, workdir / "switchboard.ts")
    (workdir / "package.json").write_text('{"type": "module"}\n')
    (workdir / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    link = workdir / "node_modules"
    if not link.exists():
        link.symlink_to(tools / "node_modules", target_is_directory=True)
    result = subprocess.run([str(tools / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.json"],
                            cwd=workdir, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"tsc failed:\n{result.stdout}\n{result.stderr}"
    return workdir / "out" / "switchboard.js"
