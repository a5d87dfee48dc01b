"""Hook overhead per tool call, as Claude Code sees it, and command delivery.

Starts the platform as `make run` does (embedded mode: SQLite, daphne, in-process worker) on a
scratch data dir, or the production WSGI server with --server granian (set DATABASE_URL and
REDIS_URL for PostgreSQL + Redis). Then runs the Claude Code hook exactly as Claude Code runs a
command hook installed with `switchboard_hook.py --install` (the command it writes, through
/bin/sh): a fresh Python process per event, the event JSON on stdin, timed from spawn to exit.

Figures:
  * `python3 -c pass` on this machine, and `python -S -c pass`: the floor any Python hook pays
    (-S skips site-packages, which the standard-library-only hook does not need);
  * PreToolUse and PostToolUse runs (one span each), p50/p95/max;
  * command delivery: a stop issued in the control room, then the agent's next PreToolUse:
    the time from the hook firing to its answer (continue:false), p50/p95.

Usage: .venv/bin/python benchmarks/hook_overhead.py [--calls 200] [--server daphne|granian]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HOOK = ROOT / "clients" / "claude-code" / "switchboard_hook.py"
PY = sys.executable


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(name: str, values: list[float]) -> str:
    return (f"{name:<34} n={len(values):<4} p50 {statistics.median(values):7.1f} ms   "
            f"p95 {pct(values, 0.95):7.1f} ms   max {max(values):7.1f} ms")


def timed(cmd: list[str], stdin: bytes, env: dict[str, str]) -> tuple[float, bytes]:
    started = time.perf_counter()
    result = subprocess.run(cmd, input=stdin, env=env, capture_output=True, timeout=30)
    return (time.perf_counter() - started) * 1000, result.stdout


def wait_up(url: str, seconds: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the platform did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200, help="tool calls (2 hook runs each)")
    parser.add_argument("--commands", type=int, default=30, help="stop commands to deliver")
    parser.add_argument("--server", choices=["daphne", "granian"], default="daphne")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="sb-hook-bench-"))
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data_dir), "DEBUG": "false",
           "LOG_LEVEL": "WARNING", "SECRET_KEY": "bench-" + uuid.uuid4().hex,
           "SECURE_HTTPS": "false", "ALLOWED_HOSTS": "127.0.0.1,localhost",
           "RATE_LIMIT_KEY": "100000000/min", "RATE_LIMIT_IP": "100000000/min"}
    os.environ.update({k: env[k] for k in ("SWITCHBOARD_DATA_DIR", "SECRET_KEY", "DEBUG")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env,
                   check=True)
    import django

    django.setup()
    from apps.agents.models import Agent
    from apps.agents.services import agent_action
    from apps.projects.models import ApiKey, Project
    from tests.support import free_port

    project = Project.objects.create(name="Bench", slug=f"bench-{uuid.uuid4().hex[:6]}")
    raw, prefix, digest = ApiKey.generate()
    ApiKey.objects.create(project=project, name="bench", prefix=prefix, key_hash=digest)

    port = free_port()
    if args.server == "granian":
        cmd = [str(Path(PY).parent / "granian"), "--interface", "wsgi", "--workers", "2",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
               "config.wsgi:application"]
    else:
        cmd = [PY, "manage.py", "serve", "--port", str(port)]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url)
        state = data_dir / "hook-state"
        hook_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(data_dir),
                    "SWITCHBOARD_URL": url, "SWITCHBOARD_API_KEY": raw,
                    "SWITCHBOARD_STATE_DIR": str(state), "SWITCHBOARD_TIMEOUT": "5",
                    "SWITCHBOARD_DEBUG": "1"}
        # The command `--install` writes into settings.json, run through a shell as Claude Code
        # runs hook commands.
        settings = json.loads(subprocess.run([PY, str(HOOK), "--settings"], check=True,
                                             capture_output=True).stdout)
        hook = ["/bin/sh", "-c", settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"]]
        bare = str(Path(sys.base_prefix) / "bin" / "python3")  # not a pyenv shim
        floor = [timed([bare, "-c", "pass"], b"", hook_env)[0] for _ in range(30)]
        floor_s = [timed([PY, "-S", "-c", "pass"], b"", hook_env)[0] for _ in range(30)]

        session = str(uuid.uuid4())
        common = {"session_id": session, "transcript_path": "", "cwd": str(data_dir / "app"),
                  "permission_mode": "default"}
        timed(hook, json.dumps({**common, "hook_event_name": "SessionStart",
                                "source": "startup"}).encode(), hook_env)
        timed(hook, json.dumps({**common, "hook_event_name": "UserPromptSubmit",
                                "prompt": "benchmark"}).encode(), hook_env)
        pre: list[float] = []
        post: list[float] = []
        for i in range(args.calls):
            tool = {"command": f"echo {i}", "description": "bench"}
            call = {**common, "tool_name": "Bash", "tool_input": tool,
                    "tool_use_id": f"toolu_bench_{i}"}
            pre.append(timed(hook, json.dumps({**call, "hook_event_name": "PreToolUse"}).encode(),
                             hook_env)[0])
            post.append(timed(hook, json.dumps({
                **call, "hook_event_name": "PostToolUse", "duration_ms": 5,
                "tool_response": {"stdout": str(i), "stderr": "", "interrupted": False}}).encode(),
                hook_env)[0])

        # The server's share: the same one-event batch posted from this process (no Python
        # start-up, no hook work), on a fresh connection as the hook opens one.
        server_ms: list[float] = []
        for i in range(args.calls):
            body = json.dumps({"events": [{
                "type": "span.start", "agent_external_id": session,
                "idempotency_key": f"bench-{uuid.uuid4().hex}",
                "data": {"span_id": f"toolu_srv_{i}", "phase": "start", "tool_name": "Bash",
                         "input": json.dumps({"command": f"echo {i}"})}}]}).encode()
            request = urllib.request.Request(url + "/api/v1/events", data=body, headers={
                "Authorization": f"Bearer {raw}", "Content-Type": "application/json"})
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
            server_ms.append((time.perf_counter() - started) * 1000)

        if not Agent.objects.filter(project=project, external_id=session).exists():
            raise SystemExit("the hook did not register its session:\n" + (
                (state / "hook.log").read_text()[-2000:] if (state / "hook.log").exists() else ""))
        agent = Agent.objects.get(project=project, external_id=session)
        delivery: list[float] = []
        for i in range(args.commands):
            agent_action(agent=Agent.objects.get(pk=agent.pk), action="stop",
                         actor_label="bench")
            ms, out = timed(hook, json.dumps({
                **common, "hook_event_name": "PreToolUse", "tool_name": "Bash",
                "tool_input": {"command": "true"}, "tool_use_id": f"toolu_cmd_{i}"}).encode(),
                hook_env)
            if b'"continue": false' not in out:
                raise SystemExit(f"the stop did not arrive with the hook's answer: {out!r}")
            delivery.append(ms)
            # A person types again: the session works again, ready for the next stop.
            timed(hook, json.dumps({**common, "hook_event_name": "UserPromptSubmit",
                                    "prompt": "go on"}).encode(), hook_env)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)
        shutil.rmtree(data_dir, ignore_errors=True)

    print(f"server: {args.server}; {os.cpu_count()} cores")
    print(summary("python3 -c pass (floor)", floor))
    print(summary("python -S -c pass", floor_s))
    print(summary("server answer to one event", server_ms))
    print(summary("PreToolUse hook run", pre))
    print(summary("PostToolUse hook run (async)", post))
    print(summary("stop delivered with PreToolUse", delivery))
    print(f"PreToolUse p50 over the floor: {statistics.median(pre) / statistics.median(floor):.1f}x")


if __name__ == "__main__":
    main()
