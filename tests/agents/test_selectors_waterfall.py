from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.agents.selectors import TraceFilters, session_turns, span_detail, trace_page
from apps.agents.selectors.waterfall import ruler, span_label
from apps.agents.services import span_record
from tests.realtime import seed

pytestmark = pytest.mark.django_db


def call(a, sid, turn, at, ms, tool="Bash", outcome="ok", **kw):
    span_record(agent=a, span_id=sid, phase="start", now=at, turn=turn, tool_name=tool,
                input=kw.pop("input", ""))
    span_record(agent=a, span_id=sid, phase="finish", now=at + timedelta(milliseconds=ms),
                latency_ms=ms, outcome=outcome, **kw)


def test_turns_share_one_axis(project):
    a = seed.agent(project, "axis")
    t0 = timezone.now() - timedelta(hours=1)
    call(a, "short", 1, t0, 2_000)
    call(a, "long-1", 2, t0 + timedelta(minutes=10), 60_000)
    call(a, "long-2", 2, t0 + timedelta(minutes=11), 60_000)  # turn 2 lasts 2 min
    page = trace_page(a, TraceFilters())
    assert page["axis_ms"] == 120_000
    short = next(t for t in page["turns"] if t["turn"] == 1)
    long = next(t for t in page["turns"] if t["turn"] == 2)
    # A one-call 2 s turn is no longer a full bar: 2 s of a 2 min axis.
    assert short["rows"][0].width == pytest.approx(100 * 2 / 120, abs=0.01)
    assert [r.left for r in long["rows"]] == [0, 50]
    assert [r.width for r in long["rows"]] == [50, 50]
    assert short["duration_label"] == "2.0 s" and long["duration_label"] == "2m 0s"
    # Each turn on its own axis when asked.
    own = trace_page(a, TraceFilters(scale="turn"))
    assert next(t for t in own["turns"] if t["turn"] == 1)["rows"][0].width == 100


def test_the_session_strip_sizes_turns_by_duration(project):
    a = seed.agent(project, "strip")
    t0 = timezone.now() - timedelta(hours=1)
    call(a, "a", 1, t0, 2_000)
    call(a, "b", 2, t0 + timedelta(minutes=5), 118_000, outcome="error", error="boom")
    turns = session_turns(a)
    assert [(t["turn"], t["ms"], t["errors"]) for t in turns] == [(1, 2000, 0), (2, 118000, 1)]
    from apps.agents.selectors import session_strip

    strip = session_strip(turns)
    assert [t["pct"] for t in strip["turns"]] == [1.667, 98.333]
    assert strip["longest"]["turn"] == 2


def test_ruler_ticks_fit_the_axis():
    assert [t["label"] for t in ruler(800)] == ["0", "200 ms", "400 ms", "600 ms", "800 ms"]
    assert [t["label"] for t in ruler(9_000)] == ["0", "2 s", "4 s", "6 s", "8 s"]
    assert [t["label"] for t in ruler(120_000)] == ["0", "30 s", "1 min", "1.5 min", "2 min"]
    assert [t["label"] for t in ruler(600_000)][-1] == "10 min"
    assert all(0 <= t["pct"] <= 100 for t in ruler(7_777))


def test_sub_agent_spans_nest_under_the_task_that_spawned_them(project):
    a = seed.agent(project, "lead")
    (sub,) = seed.waterfall_session(a, turns=4)
    page = trace_page(a, TraceFilters())
    turn4 = next(t for t in page["turns"] if t["turn"] == 4)
    kinds = [(r.kind, r.depth, r.span.tool_name if r.span else r.agent.name) for r in turn4["rows"]]
    task_at = kinds.index(("span", 0, "Task"))
    assert kinds[task_at + 1] == ("agent", 1, sub.name)
    assert kinds[task_at + 2:] == [("span", 1, "Bash"), ("span", 1, "Bash"), ("span", 1, "Read")]
    assert turn4["nested"] == 3 and turn4["calls"] == len(turn4["spans"])
    task = turn4["rows"][task_at]
    nested = turn4["rows"][task_at + 2:]
    # On the same axis, inside the Task's bar.
    assert all(task.left <= r.left and r.left + r.width <= task.left + task.width + 0.01
               for r in nested)


def test_sub_agents_without_a_tool_use_id_nest_by_time(project):
    a = seed.agent(project, "lead")
    now = timezone.now()
    call(a, "task", 1, now - timedelta(seconds=5), 30_000, tool="Task")
    span_record(agent=a, span_id="task", phase="start", now=now - timedelta(seconds=5), turn=1,
                tool_name="Task")
    from apps.agents.models import ToolSpan

    ToolSpan.objects.filter(agent=a, span_id="task").update(finished_at=now + timedelta(seconds=25))
    sub = seed.agent(project, "helper", parent=a)  # created now: inside the Task
    call(sub, "s1", 1, now, 1_000, tool="Read")
    rows = trace_page(a, TraceFilters())["turns"][0]["rows"]
    assert [(r.kind, r.depth) for r in rows] == [("span", 0), ("agent", 1), ("span", 1)]


def test_pages_by_turn_with_a_key(project):
    a = seed.agent(project, "pager")
    t0 = timezone.now() - timedelta(hours=3)
    for turn in range(1, 21):
        for i in range(3):
            call(a, f"{turn}-{i}", turn, t0 + timedelta(minutes=turn, seconds=i), 100)
    first = trace_page(a, TraceFilters(), page_size=8)
    assert [t["turn"] for t in first["turns"]] == list(range(20, 12, -1))
    assert first["older"] == 13
    second = trace_page(a, TraceFilters(before=13), page_size=8)
    assert [t["turn"] for t in second["turns"]] == list(range(12, 4, -1))
    last = trace_page(a, TraceFilters(before=5), page_size=8)
    assert [t["turn"] for t in last["turns"]] == [4, 3, 2, 1] and last["older"] is None
    exact = trace_page(a, TraceFilters(before=9), page_size=8)
    assert [t["turn"] for t in exact["turns"]] == list(range(8, 0, -1)) and exact["older"] is None
    assert sum(len(t["spans"]) for t in first["turns"]) == 24  # every span of its turns


def test_filters_by_tool_and_outcome(project):
    a = seed.agent(project, "filtered")
    seed.waterfall_session(a, turns=6)
    bash = trace_page(a, TraceFilters(tool="Bash"))
    assert bash["turns"] and all(
        r.span.tool_name == "Bash" for t in bash["turns"] for r in t["rows"] if r.span
    )
    errors = trace_page(a, TraceFilters(outcome="error"))
    assert errors["turns"] and all(
        r.span.outcome == "error" for t in errors["turns"] for r in t["rows"] if r.span
    )
    assert trace_page(a, TraceFilters(tool="NoSuchTool"))["turns"] == []


def test_filters_from_the_query_drop_bad_values():
    f = TraceFilters.from_query({"tool": "x" * 300, "outcome": "nope", "before": "abc",
                                 "scale": "weird"})
    assert f == TraceFilters()
    assert TraceFilters.from_query({"before": "-3"}).before is None
    assert TraceFilters.from_query({"before": "99999999999999"}).before is None
    f = TraceFilters.from_query({"tool": " Bash ", "outcome": "pending", "before": "7"})
    assert (f.tool, f.outcome, f.before, f.live) == ("Bash", "pending", 7, False)


def test_the_query_count_does_not_grow_with_spans(project, django_assert_max_num_queries):
    small = seed.agent(project, "small")
    seed.waterfall_session(small, turns=4)
    big = seed.agent(project, "big")
    seed.waterfall_session(big, turns=40)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        trace_page(small, TraceFilters())
    with django_assert_max_num_queries(len(few)):
        page = trace_page(big, TraceFilters(), page_size=30)
    assert sum(len(t["rows"]) for t in page["turns"]) > 100


def test_span_detail_pretty_prints_and_cuts_big_payloads(project):
    a = seed.agent(project, "detail")
    call(a, "big", 1, timezone.now(), 10, input='{"command": "ls", "n": [1, 2]}',
         output="<b>x</b>" * 2000, error="")
    from apps.agents.models import ToolSpan

    span = ToolSpan.objects.get(agent=a, span_id="big")
    d = span_detail(a, span.pk)
    (_, inp), (_, out) = d["payloads"]
    assert inp["text"] == '{\n  "command": "ls",\n  "n": [\n    1,\n    2\n  ]\n}'
    assert out["cut"] and len(out["text"]) == 4000
    (_, out_all) = span_detail(a, span.pk, full="output")["payloads"][1]
    assert not out_all["cut"] and len(out_all["text"]) == 16000
    assert span_detail(seed.agent(project, "other"), span.pk) is None


def test_span_label_reads_the_input_head():
    assert span_label('{"file_path": "src/a.py", "old_string": "x"}') == "src/a.py"
    assert span_label('{"command": "pytest -q \\"a b\\""}') == 'pytest -q "a b"'
    assert span_label('{"description": "Run tests", "prompt": "...') == "Run tests"
    assert span_label("plain text") == ""
