"""The agent page's trace viewer: the waterfall's partials, its filters, paging and the span
drawer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.agents.models import ToolSpan
from tests.realtime import seed

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def lead(project):
    a = seed.agent(project, "lead", status="working")
    seed.waterfall_session(a, turns=12)
    return a


def url(a, **q):
    from urllib.parse import urlencode

    return reverse("agent-detail", args=[a.pk]) + (f"?{urlencode(q)}" if q else "")


def test_it_shows_the_newest_turns_as_a_waterfall(client, viewer, lead):
    client.force_login(viewer)
    body = client.get(url(lead)).content.decode()
    for turn in range(12, 4, -1):
        assert f'id="turn-{lead.pk}-{turn}"' in body
    assert f'id="turn-{lead.pk}-4"' not in body  # the next page
    assert body.index(f'id="turn-{lead.pk}-12"') < body.index(f'id="turn-{lead.pk}-5"')
    assert 'id="trace-strip"' in body and body.count('class="wf-seg') == 12
    assert 'class="wf-tick"' in body and "data-list-item" in body
    assert "sub-agent</span> test-runner 12" in body and "is-nested" in body
    assert "src/checkout/cart.py" in body  # the call's file, from its input
    assert 'href="?before=5#trace"' in body and "partial=older" in body
    # The strip jumps to a turn on the page, and loads the page of one that is not.
    assert f'href="#turn-{lead.pk}-12"' in body and f'href="?before=4#turn-{lead.pk}-3"' in body


def test_older_turns_come_as_a_fragment_and_as_a_page(client, viewer, lead):
    client.force_login(viewer)
    r = client.get(url(lead, before=5, partial="older"), **HTMX)
    body = r.content.decode()
    assert r.status_code == 200 and "<html" not in body
    assert [f'id="turn-{lead.pk}-{n}"' in body for n in (4, 3, 2, 1)] == [True] * 4
    assert "Older turns" not in body  # the last page
    page = client.get(url(lead, before=5)).content.decode()
    assert "<html" in page and 'id="trace-turns-page"' in page
    assert "Showing turns before 5" in page and 'id="trace-turns"' not in page


def test_filters_swap_the_trace_body(client, viewer, lead):
    client.force_login(viewer)
    r = client.get(url(lead, tool="Bash", outcome="error"), HTTP_HX_TARGET="trace-body", **HTMX)
    body = r.content.decode()
    assert body.lstrip().startswith('<div id="trace-body"')
    assert "exit status 1" not in body  # the error is in the drawer, not the row
    assert '<option value="Bash" selected>' in body and '<option value="error" selected>' in body
    assert 'class="span-tool mono">Read<' not in body and 'class="span-tool mono">Bash<' in body
    # Filtered turns do not take pushed (unfiltered) turns.
    assert 'id="trace-turns-page"' in body and 'data-live-insert' not in body


@pytest.mark.parametrize("query", [
    {"tool": "x" * 500}, {"outcome": "bogus"}, {"outcome": ""}, {"before": "abc"},
    {"before": "-1"}, {"before": "1e99"}, {"scale": "zzz"}, {"partial": "nope"},
    {"tool": "\x00"},
])
def test_bad_filter_values_are_ignored(client, viewer, lead, query):
    client.force_login(viewer)
    assert client.get(url(lead, **query)).status_code == 200
    assert client.get(url(lead, **query), HTTP_HX_TARGET="trace-body", **HTMX).status_code == 200


def test_the_span_drawer_and_its_page(client, viewer, lead):
    client.force_login(viewer)
    span = ToolSpan.objects.get(agent=lead, span_id="toolu_004_task")
    r = client.get(reverse("agent-span", args=[lead.pk, span.pk]), **HTMX)
    body = r.content.decode()
    assert r.status_code == 200 and "<html" not in body
    assert "Task" in body and "24.0 s" in body and "Run the checkout suite" in body
    assert '"subagent_type": "test-runner"' in body.replace("&quot;", '"')  # pretty JSON
    assert "Show all" in body and "?full=output" in body
    assert "lead › test-runner 4" in body  # the sub-agent it started
    full = client.get(reverse("agent-span", args=[lead.pk, span.pk]) + "?full=output", **HTMX)
    assert "Show all" not in full.content.decode()
    page = client.get(reverse("agent-span", args=[lead.pk, span.pk]))
    assert "<html" in page.content.decode() and "Turn 4, Task" in page.content.decode()


def test_the_drawer_escapes_payloads_and_shows_errors(client, viewer, project):
    from apps.agents.services import span_record

    a = seed.agent(project, "escaper")
    span_record(agent=a, span_id="x", phase="start", tool_name="Bash",
                input='{"command": "<script>alert(1)</script>"}')
    span_record(agent=a, span_id="x", phase="finish", latency_ms=5, outcome="error",
                error="<img src=x onerror=alert(1)>")
    span = ToolSpan.objects.get(agent=a)
    client.force_login(viewer)
    body = client.get(reverse("agent-span", args=[a.pk, span.pk]), **HTMX).content.decode()
    assert "<script>alert" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<img src=x" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body


def test_a_span_is_found_only_through_its_own_agent(client, viewer, lead, project):
    client.force_login(viewer)
    span = ToolSpan.objects.filter(agent=lead).first()
    other = seed.agent(project, "other")
    assert client.get(reverse("agent-span", args=[other.pk, span.pk])).status_code == 404
    assert client.get(reverse("agent-span", args=[lead.pk, 10**9])).status_code == 404
    assert client.get(reverse("agent-span", args=[10**9, span.pk])).status_code == 404


def test_outsiders_get_nothing(client, outsider, lead):
    span = ToolSpan.objects.filter(agent=lead).first()
    client.force_login(outsider)
    for u in (url(lead), url(lead, partial="older", before=5),
              reverse("agent-span", args=[lead.pk, span.pk])):
        r = client.get(u, **HTMX)
        assert r.status_code == 403 and "src/checkout" not in r.content.decode()


def test_archived_projects_hide_their_spans(client, viewer, lead, project):
    span = ToolSpan.objects.filter(agent=lead).first()
    project.archived = True
    project.save()
    client.force_login(viewer)
    assert client.get(reverse("agent-span", args=[lead.pk, span.pk])).status_code == 404


def test_the_page_query_count_does_not_grow_with_spans(client, viewer, project,
                                                      django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small = seed.agent(project, "small")
    seed.waterfall_session(small, turns=4)
    big = seed.agent(project, "big")
    seed.waterfall_session(big, turns=40)
    client.force_login(viewer)
    client.get(url(small))  # warm caches (sessions, content types)
    with CaptureQueriesContext(connection) as few:
        client.get(url(small))
    with django_assert_max_num_queries(len(few)):
        body = client.get(url(big)).content.decode()
    assert body.count("data-list-item") > 30


def test_the_filter_form_works_without_javascript(client, viewer, lead):
    client.force_login(viewer)
    body = client.get(url(lead, tool="Bash", outcome="", scale="turn")).content.decode()
    assert "<html" in body and '<option value="Bash" selected>' in body
    assert '<option value="turn" selected>' in body
    assert 'class="span-tool mono">Read<' not in body and 'class="span-tool mono">Bash<' in body
    assert "New calls appear live in the unfiltered view." in body
    assert f'href="/agents/{lead.pk}/#trace">Newest, unfiltered</a>' in body
