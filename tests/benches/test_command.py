"""`manage.py bench run` against the loopback fake."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.benches.models import Endpoint, Run, RunState

pytestmark = pytest.mark.django_db


def bench(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("bench", "run", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_it_prints_the_result_as_json_and_stores_the_run(project, fake):
    code, out, err = bench("--url", fake.url, "--model", "m", "--concurrency", "1,4",
                           "--requests", "4", "--max-tokens", "8", "--api-key", "sk-secret",
                           "--json")
    assert code == 0, err
    result = json.loads(out)
    run = Run.objects.get()
    assert result["run"] == run.pk and run.state == RunState.FINISHED and run.trigger == "command"
    assert [lv["concurrency"] for lv in result["levels"]] == [1, 4]
    level = result["levels"][0]
    for key in ("requests", "completed", "errors", "output_tokens_per_s", "requests_per_s"):
        assert key in level
    for key in ("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"):
        assert set(level[key]) == {"mean", "p50", "p90", "p99"}
    assert level["completed"] == 4 and result["regressions"] == []
    endpoint = Endpoint.objects.get()
    assert endpoint.project == project and endpoint.api_key_hint == "…cret"
    assert "sk-secret" not in endpoint.api_key_encrypted
    assert fake.stats()["seen_headers"][-1]["authorization"] == "Bearer sk-secret"
    assert "c=1" in err  # progress goes to stderr when stdout is JSON


def test_a_baseline_flags_regressions_and_can_fail_the_build(project, fake):
    args = ("--url", fake.url, "--model", "m", "--concurrency", "1", "--requests", "3",
            "--max-tokens", "8")
    code, out, _ = bench(*args, "--json")
    baseline = json.loads(out)["run"]
    fake.configure(itl_ms=25)
    code, out, _ = bench(*args, "--baseline", str(baseline), "--fail-on-regression", "--json")
    result = json.loads(out)
    assert code == 1
    assert {"itl_ms", "tpot_ms"} <= {r["metric"] for r in result["regressions"]}
    assert result["regressions"][0]["concurrency"] == 1


def test_the_table_output(project, fake):
    code, out, _ = bench("--url", fake.url, "--model", "m", "--concurrency", "2",
                         "--requests", "2", "--max-tokens", "8")
    assert code == 0
    assert "TTFT p50" in out and "c=2" in out


def test_foreign_traffic_needs_yes(project, fake):
    fake.configure(foreign=1)
    args = ("--url", fake.url, "--model", "m", "--concurrency", "1", "--requests", "1")
    code, _, err = bench(*args)
    assert code == 2 and "--yes" in err and not Run.objects.exists()
    code, out, _ = bench(*args, "--yes", "--json")
    assert code == 0 and json.loads(out)["polluted"] is True


@pytest.mark.parametrize(("args", "message"), [
    (("--model", "m"), "--url"),
    (("--url", "ftp://x", "--model", "m"), "https://"),
    (("--url", "http://127.0.0.1:9", "--model", "m", "--concurrency", "0"), "above 0"),
    (("--url", "http://127.0.0.1:9", "--model", "m", "--baseline", "999"), "No finished run"),
    (("--url", "http://127.0.0.1:9"), "--model"),
])
def test_bad_arguments_are_clear_errors(project, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("bench", "run", *args, stdout=io.StringIO(), stderr=io.StringIO())


def test_several_projects_need_project(project, other_project, fake):
    with pytest.raises(CommandError, match="--project"):
        call_command("bench", "run", "--url", fake.url, "--model", "m",
                     stdout=io.StringIO(), stderr=io.StringIO())
    code, out, _ = bench("--url", fake.url, "--model", "m", "--project", "zephyr",
                         "--requests", "1", "--json")
    assert code == 0 and Run.objects.get().project == other_project
