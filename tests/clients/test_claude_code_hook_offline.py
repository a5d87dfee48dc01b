"""The Claude Code hook when the server is down, slow or absent: it exits 0 silently, stays
within its time budget and keeps every event in its spool, in order."""

from __future__ import annotations

import ast
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.clients.conftest import HOOK, Hook
from tests.clients.hook_inputs import Session


def quiet(result) -> None:
    """Exit 0 and nothing on stdout or stderr: Claude Code reads both."""
    assert result.returncode == 0
    assert result.stdout == b""
    assert result.stderr == b""


@pytest.fixture
def hook(tmp_path: Path, closed_url: str) -> Hook:
    return Hook(tmp_path, closed_url, "sbk_not-checked-offline")


@pytest.mark.parametrize("stdin", [b"", b"not json", b"[1, 2]", b'{"hook_event_name": "Stop"}',
                                   b'{"session_id": 42, "hook_event_name": "Stop"}',
                                   b"\xff\xfe\x00garbage", b'{"session_id": "s", "hook'])
def test_it_exits_quietly_on_malformed_input(hook: Hook, stdin: bytes) -> None:
    quiet(hook(stdin))
    assert hook.spooled() == []


def test_it_does_nothing_without_a_url(hook: Hook, cc_session: Session) -> None:
    quiet(hook(cc_session.session_start(), SWITCHBOARD_URL=""))
    assert not (hook.state / "spool.jsonl").exists()


def test_it_spools_in_order_when_the_server_is_down(hook: Hook, cc_session: Session) -> None:
    started = time.monotonic()
    for payload in [
        cc_session.session_start(),
        cc_session.user_prompt_submit("Fix the failing invoice test"),
        cc_session.pre_tool_use("Bash", {"command": "pytest -q"}, "toolu_01A"),
        cc_session.post_tool_use("Bash", {"command": "pytest -q"},
                                 {"stdout": "1 failed", "stderr": "", "interrupted": False},
                                 "toolu_01A"),
        cc_session.stop(),
    ]:
        quiet(hook(payload))
    assert time.monotonic() - started < 10  # five runs; each gives up at once on a closed port

    events = hook.spooled()
    assert [e["type"] for e in events] == [
        "agent.register", "agent.status",  # SessionStart
        "agent.status", "hook.user_prompt",  # UserPromptSubmit: working
        "span.start",  # PreToolUse
        "span.finish",  # PostToolUse
        "agent.status",  # Stop: idle
    ]
    assert events[0]["data"] == {
        "name": f"payments-api #{cc_session.session_id[:6]}", "kind": "claude-code", "external_id": cc_session.session_id,
        "metadata": {"cwd": cc_session.cwd, "transcript_path": str(cc_session.transcript),
                     "permission_mode": "default", "client": "switchboard-claude-code-hook/2"},
    }
    assert all(e["agent_external_id"] == cc_session.session_id for e in events)
    keys = [e["idempotency_key"] for e in events]
    assert len(set(keys)) == len(keys) and all(k.startswith("cc-") for k in keys)
    assert events[2]["data"] == {"status": "working",
                                 "reason": "turn 1: Fix the failing invoice test"}
    start, finish = events[4]["data"], events[5]["data"]
    assert start["span_id"] == finish["span_id"] == "toolu_01A"
    assert start["turn"] == finish["turn"] == 1
    assert start["input"] == '{"command": "pytest -q"}'
    assert finish["outcome"] == "ok" and finish["latency_ms"] >= 0
    assert events[6]["data"] == {"status": "idle", "reason": "turn finished"}


def test_it_names_the_agent_from_the_environment(hook: Hook, cc_session: Session) -> None:
    quiet(hook(cc_session.session_start(), SWITCHBOARD_AGENT_NAME="release-bot"))
    assert hook.spooled()[0]["data"]["name"] == "release-bot"


def test_it_counts_transcript_tokens_once_and_only_new_lines(hook: Hook,
                                                             cc_session: Session) -> None:
    quiet(hook(cc_session.session_start()))
    # One response written as three lines (one per content block) repeating its usage.
    cc_session.add_assistant_message("msg_01", {"input_tokens": 12, "output_tokens": 300,
                                                "cache_read_input_tokens": 9000,
                                                "cache_creation_input_tokens": 450}, chunks=3)
    cc_session.add_user_line("thanks")
    quiet(hook(cc_session.stop()))
    usage = [e["data"] for e in hook.spooled() if e["type"] == "usage"]
    assert usage == [{"key": "req_msg_01", "turn": 0, "tokens_input": 12, "tokens_output": 300,
                      "tokens_cache_read": 9000, "tokens_cache_write": 450,
                      "tokens_reasoning": 0, "model": "claude-sonnet-4-5-20250929"}]

    # Nothing new: no usage event. Then a second response: only its tokens.
    quiet(hook(cc_session.stop()))
    cc_session.add_assistant_message("msg_02", {"input_tokens": 5, "output_tokens": 40,
                                                "cache_read_input_tokens": 9300})
    quiet(hook(cc_session.stop()))
    usage = [e["data"] for e in hook.spooled() if e["type"] == "usage"]
    assert len(usage) == 2
    assert usage[1]["tokens_input"] == 5 and usage[1]["tokens_output"] == 40
    assert usage[1]["tokens_cache_read"] == 9300 and usage[1]["tokens_cache_write"] == 0


def test_it_leaves_a_half_written_transcript_line_for_next_time(hook: Hook,
                                                                cc_session: Session) -> None:
    quiet(hook(cc_session.session_start()))
    cc_session.add_assistant_message("msg_01", {"input_tokens": 7, "output_tokens": 70})
    with open(cc_session.transcript, "a") as fh:
        fh.write('{"type": "assistant", "message": {"id": "msg_02", "usage": {"input_tok')
    quiet(hook(cc_session.stop()))
    with open(cc_session.transcript, "a") as fh:
        fh.write('ens": 3, "output_tokens": 30}}}\n')
    quiet(hook(cc_session.session_end()))
    usage = [e["data"] for e in hook.spooled() if e["type"] == "usage"]
    assert [(u["tokens_input"], u["tokens_output"]) for u in usage] == [(7, 70), (3, 30)]


def test_it_gives_up_on_a_server_that_never_answers(tmp_path: Path, cc_session: Session) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)  # accepts connections (the kernel does) but never answers
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        hook = Hook(tmp_path, f"http://127.0.0.1:{server.getsockname()[1]}", "sbk_x")
        started = time.monotonic()
        quiet(hook(cc_session.session_start(), SWITCHBOARD_TIMEOUT="1"))
        assert time.monotonic() - started < 3  # interpreter start-up + the 1 s budget
        assert [e["type"] for e in hook.spooled()] == ["agent.register", "agent.status"]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def test_it_uses_only_the_standard_library() -> None:
    tree = ast.parse(HOOK.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported
