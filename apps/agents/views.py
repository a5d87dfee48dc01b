"""The live control room: overview, agents list, agent page, activity feed.

Each page renders partials that apps/realtime/agent_pages.py also renders for pushed deltas;
`?partial=` returns the fragments the page polls while its socket is down.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.agents import selectors
from apps.agents.kinds import KNOWN, kind_choices
from apps.agents.models import Agent, AgentStatus, Priority
from apps.core import links
from apps.core.permissions import admin_required, member_required
from apps.core.redirects import local_next
from apps.projects.selectors import current_project

WORKFLOW_SIGNALS = [
    ("approve", "Approve the waiting step"),
    ("pause", "Pause"),
    ("resume", "Resume"),
    ("cancel", "Cancel the workflow"),
]
def claude_settings_snippet(site_url: str) -> str:
    """How to connect Claude Code: the hook registers itself (`--install` knows its events,
    which run async, and the fast command form), the key and address go into `env`."""
    env = json.dumps({"SWITCHBOARD_URL": site_url, "SWITCHBOARD_API_KEY": "sbk_…"},
                     ensure_ascii=False)
    from apps.projects.connect import fetch_command

    return "\n".join([
        "# 1. on the agent's machine",
        "mkdir -p ~/.claude/hooks",
        fetch_command(site_url, "switchboard_hook.py", "~/.claude/hooks"),
        "python3 ~/.claude/hooks/switchboard_hook.py --install",
        "",
        "# 2. in ~/.claude/settings.json",
        f'"env": {env}',
    ])


def _project_param(project: Any) -> str:
    return project.slug if project is not None else "all"


def overview_context(project: Any, *, site_url: str, snapshot: bool = False) -> dict[str, Any]:
    ctx = selectors.overview(project)
    ctx.update(
        {
            "current_project": project,
            "show_project": project is None,
            "snapshot": snapshot,
            "claude_snippet": claude_settings_snippet(site_url),
        }
    )
    return ctx


# --- overview -----------------------------------------------------------------------------
@require_GET
@member_required
def overview(request: HttpRequest) -> HttpResponse:
    project = current_project(request)
    if request.GET.get("partial") == "live":
        return render(
            request,
            "agents/overview.html#live",
            overview_context(project, site_url=links.site_url(request), snapshot=True),
        )
    ctx = overview_context(project, site_url=links.site_url(request))
    ctx["project_param"] = _project_param(project)
    return render(request, "agents/overview.html", ctx)


# --- agents list --------------------------------------------------------------------------
@require_GET
@member_required
def agents_list(request: HttpRequest) -> HttpResponse:
    project = current_project(request)
    filters = selectors.ListFilters.from_query(request.GET)
    page = selectors.agent_list(project, filters)
    pp = _project_param(project)
    ctx: dict[str, Any] = {
        "filters": filters,
        "page_obj": page,
        "show_project": project is None,
        "current_project": project,
        "project_param": pp,
        "filtered": bool(filters.status or filters.kind or filters.model or filters.label
                         or filters.owner or filters.q or filters.archived),
        "version": selectors.latest_event_id(project),
        "snapshot": request.GET.get("partial") == "rows",
    }
    if ctx["snapshot"]:
        return render(request, "agents/list.html#rows", ctx)
    base = {"project": pp, **filters.as_query()}
    facets = selectors.list_facets(project)
    ctx.update(
        {
            "statuses": AgentStatus.choices,
            "kinds": kind_choices() + ([(filters.kind, filters.kind)]
                                       if filters.kind and filters.kind not in KNOWN else []),
            "models": _with_current(facets.models, filters.model),
            "labels": _with_current(facets.labels, filters.label),
            "owners": facets.owners,
            "sorts": list(selectors.LIST_SORT_LABELS.items()),
            "live_query": urlencode({**base, "page": page.number}),
            "page_prev_query": urlencode({**base, "page": page.number - 1})
            if page.has_previous()
            else "",
            "page_next_query": urlencode({**base, "page": page.number + 1})
            if page.has_next()
            else "",
            "sort_links": _sort_links(filters, base),
            "archive": selectors.archive_counts(project),
        }
    )
    if request.htmx:
        return render(request, "agents/list.html#live", ctx)
    return render(request, "agents/list.html", ctx)


def _with_current(values: list[str], current: str) -> list[str]:
    """A filter's choices keep the chosen value even when no agent in scope has it now."""
    return values + [current] if current and current not in values else values


def _sort_links(filters: selectors.ListFilters, base: dict[str, Any]) -> dict[str, Any]:
    """Column headers: clicking the active column flips it where a reverse order exists."""
    columns = {
        "name": ("name", "-name"),
        "status": ("status", None),
        "since": ("since", None),
        "heartbeat": ("heartbeat", "-heartbeat"),
    }
    links = {}
    for column, (key, alt) in columns.items():
        active = filters.sort in (key, alt)
        target = alt if (filters.sort == key and alt) else key
        arrow = ""
        if active:
            arrow = "↑" if filters.sort == alt or filters.sort == "name" else "↓"
        links[column] = {
            "query": urlencode({**base, "sort": target}),
            "active": active,
            "arrow": arrow,
        }
    return links


# --- agent page ---------------------------------------------------------------------------
def _agent_or_404(pk: int) -> Agent:
    agent = selectors.agent_for_page(pk)
    if agent is None:
        raise Http404("No such agent.")
    return agent


def agent_context(
    agent: Agent, *, can_act: bool, snapshot: bool = False,
    filters: selectors.TraceFilters | None = None,
) -> dict[str, Any]:
    tree = selectors.sub_agent_tree(agent)
    ctx = {
        "agent": agent,
        "can_act": can_act,
        "snapshot": snapshot,
        "usage": selectors.agent_usage_panel(agent, tree),
        "tasks": selectors.agent_tasks(agent),
        "tree": tree,
        "timeline": selectors.agent_timeline(agent),
        "version": selectors.latest_agent_event_id(agent),
        "priorities": Priority.choices,
        "workflows_enabled": True,
        "signals": WORKFLOW_SIGNALS,
    }
    ctx.update(trace_context(agent, filters or selectors.TraceFilters()))
    return ctx


def trace_context(agent: Agent, filters: selectors.TraceFilters) -> dict[str, Any]:
    """The trace panel: session totals, the turn strip and one page of the waterfall."""
    turns = selectors.session_turns(agent)
    page = selectors.trace_page(agent, filters, strip=turns)
    base = filters.as_query()
    return {
        "trace": selectors.agent_trace_summary(agent),
        "strip": selectors.session_strip(turns),
        "page": page,
        "shown_turns": {t["turn"] for t in page["turns"]},
        "filters": filters,
        "outcomes": selectors.OUTCOMES,
        "live_ids": not filters.filtered and filters.scale == "session",
        "filter_query": urlencode(base),
        "older_query": urlencode({**base, "before": page["older"]})
        if page["older"] is not None else "",
    }


@require_GET
@member_required
def agent_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from apps.core.roles import is_admin

    agent = _agent_or_404(pk)
    partial = request.GET.get("partial", "")
    if partial == "live":
        ctx = agent_context(agent, can_act=is_admin(request.user), snapshot=True)
        return render(request, "agents/detail_live.html", ctx)
    filters = selectors.TraceFilters.from_query(request.GET)
    if request.htmx and partial == "older":
        # The next page of turns, in place of the "older turns" link it came from.
        return render(request, "agents/detail.html#page_turns",
                      {"agent": agent, **trace_context(agent, filters)})
    if request.htmx and request.htmx.target == "trace-body":
        return render(request, "agents/detail.html#trace_body",
                      {"agent": agent, **trace_context(agent, filters)})
    ctx = agent_context(agent, can_act=is_admin(request.user), filters=filters)
    from apps.otlp.selectors import agent_figures
    from apps.telemetry.analytics import sparks

    ctx["sparks"] = sparks(agents=[agent.pk], by="agent")[agent.pk]
    ctx["otel_figures"] = agent_figures(agent.pk)
    from apps.linear.selectors import agent_linear_session

    ctx["linear_session"] = agent_linear_session(agent.pk)
    if ctx["can_act"]:
        from apps.accounts.selectors import team_members

        ctx["team"] = team_members()
    return render(request, "agents/detail.html", ctx)


@require_GET
@member_required
def agent_span(request: HttpRequest, pk: int, span_pk: int) -> HttpResponse:
    """One span: the drawer's content for htmx, a page of its own for a plain request."""
    agent = _agent_or_404(pk)
    detail = selectors.span_detail(agent, span_pk, full=request.GET.get("full", ""))
    if detail is None:
        raise Http404("No such span.")
    ctx = {"agent": agent, **detail}
    if request.htmx:
        return render(request, "agents/_span_detail.html", ctx)
    return render(request, "agents/span.html", ctx)


@require_POST
@admin_required
def agent_approval(request: HttpRequest, pk: int, approval_id: int) -> HttpResponse:
    """Allow or deny a permission prompt the agent's hook is waiting on."""
    from apps.agents.approvals import approval_decide
    from apps.agents.models import ApprovalRequest

    agent = _agent_or_404(pk)
    approval = get_object_or_404(ApprovalRequest, pk=approval_id, agent=agent)
    try:
        approval_decide(approval=approval, decision=request.POST.get("decision", ""),
                        actor=request.user)
    except ValidationError as exc:
        _errors(request, exc)
    return _done(request, agent)


@csrf_exempt  # the signed token is the credential: it names the prompt and the person
@require_POST
def approval_from_notification(request: HttpRequest) -> HttpResponse:
    """Allow / Deny pressed on a web-push notification (the service worker posts here)."""
    from django.core.exceptions import PermissionDenied

    from apps.agents.approvals import decide_with_token

    try:
        body = json.loads(request.body or b"{}")
        token, decision = str(body["token"]), str(body["decision"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "Send JSON with token and decision."}, status=400)
    try:
        approval = decide_with_token(token=token, decision=decision)
    except PermissionDenied as exc:
        return JsonResponse({"error": str(exc)}, status=403)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=409)
    return JsonResponse({"status": approval.status, "message": approval.message,
                         "tool_name": approval.tool_name})


def _done(request: HttpRequest, agent: Agent) -> HttpResponse:
    """Back where the button was: the agent page, or a local `next` (the alert page)."""
    return redirect(local_next(request, reverse("agent-detail", args=[agent.pk])))


def _errors(request: HttpRequest, exc: ValidationError) -> None:
    if hasattr(exc, "message_dict"):
        for field_errors in exc.message_dict.values():
            for msg in field_errors:
                messages.error(request, msg)
    else:
        for msg in exc.messages:
            messages.error(request, msg)


@require_POST
@admin_required
def agent_action(request: HttpRequest, pk: int) -> HttpResponse:
    from apps.agents.services import ACTIONS
    from apps.agents.services import agent_action as do_action

    agent = _agent_or_404(pk)
    action = request.POST.get("action", "")
    if action not in ACTIONS:
        messages.error(request, "Unknown action.")
        return _done(request, agent)
    try:
        do_action(
            agent=agent,
            action=action,
            actor=request.user,
            reason=request.POST.get("reason", "")[:300],
        )
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, f"{action.capitalize()} sent to {agent.name}.")
    return _done(request, agent)


@require_POST
@admin_required
def agent_manage(request: HttpRequest, pk: int) -> HttpResponse:
    """Archive, un-archive or delete a finished agent (with its sub-agents); set its owner and
    label."""
    from apps.agents import services

    agent = _agent_or_404(pk)
    op = request.POST.get("op", "")
    try:
        if op in ("archive", "unarchive"):
            n = services.agent_archive(agent=agent, archive=op == "archive", actor=request.user,
                                       request=request)
            done = "Archived" if op == "archive" else "Back in the list:"
            messages.success(request, f"{done} {agent.name}" + (
                f" and {n - 1} sub-agent{'s' if n > 2 else ''}." if n > 1 else "."))
        elif op == "owner":
            services.agent_set_owner(agent=agent, owner_id=request.POST.get("owner", ""),
                                     label=request.POST.get("label", ""), actor=request.user,
                                     request=request)
            messages.success(request, f"Saved the owner and label of {agent.name}.")
        elif op == "delete":
            n = services.agent_delete(agent=agent, actor=request.user, finished_only=True,
                                      request=request)
            messages.success(request, f"Deleted {agent.name}" + (
                f" and {n - 1} sub-agent{'s' if n > 2 else ''}" if n > 1 else "")
                + "; its events stay in the activity log.")
            return redirect(f"{reverse('agents-list')}?project={agent.project.slug}")
        else:
            messages.error(request, "Unknown operation.")
    except ValidationError as exc:
        _errors(request, exc)
    return _done(request, agent)


@require_POST
@admin_required
def agents_archive_finished(request: HttpRequest) -> HttpResponse:
    """The list's "Archive finished": every stopped or offline agent in the current scope."""
    from apps.agents import services
    from apps.agents.selectors.scope import agents_in

    project = current_project(request)
    n = services.agents_archive_finished(agents=agents_in(project), actor=request.user)
    messages.success(request, f"Archived {n} finished agent{'s' if n != 1 else ''}."
                     if n else "No finished agents to archive.")
    return redirect(f"{reverse('agents-list')}?project={_project_param(project)}")


@require_POST
@admin_required
def agent_assign(request: HttpRequest, pk: int) -> HttpResponse:
    from apps.agents.services import task_assign

    agent = _agent_or_404(pk)
    title = request.POST.get("title", "").strip()
    try:
        priority = int(request.POST.get("priority", "0"))
    except ValueError:
        priority = 0
    if not title:
        messages.error(request, "A task needs a title.")
        return _done(request, agent)
    if priority not in Priority.values:
        priority = Priority.NONE
    try:
        task_assign(
            agent=agent,
            title=title[:300],
            description=request.POST.get("description", ""),
            priority=priority,
            actor=request.user,
        )
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, f"Task “{title[:80]}” assigned to {agent.name}.")
    return _done(request, agent)


def parse_steps(text: str) -> list[dict[str, Any]]:
    """One step per line; a line starting with "approve:" is a human approval step."""
    steps = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.lower().startswith("approve:"):
            title = line.split(":", 1)[1].strip() or "Approval"
            steps.append({"title": title[:300], "kind": "approval"})
        else:
            steps.append({"title": line[:300]})
    return steps


@require_POST
@admin_required
def agent_workflow(request: HttpRequest, pk: int) -> HttpResponse:
    from apps.agents.workflows import workflow_start

    agent = _agent_or_404(pk)
    steps = parse_steps(request.POST.get("steps", ""))
    if not steps:
        messages.error(request, "A workflow needs at least one step.")
        return _done(request, agent)
    try:
        workflow_start(
            agent=agent,
            steps=steps,
            name=request.POST.get("name", "").strip()[:200],
            actor=request.user,
            actor_label=request.user.get_username(),
        )
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, f"Workflow started with {len(steps)} step(s).")
    return _done(request, agent)


@require_POST
@admin_required
def agent_signal(request: HttpRequest, pk: int) -> HttpResponse:
    from apps.agents.workflows import workflow_signal

    agent = _agent_or_404(pk)
    signal = request.POST.get("signal", "").strip()
    try:
        workflow_signal(
            agent=agent, signal=signal, actor=request.user, actor_label=request.user.get_username()
        )
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, f"Signal “{signal}” sent.")
    return _done(request, agent)


# --- activity feed ------------------------------------------------------------------------
@require_GET
@member_required
def activity(request: HttpRequest) -> HttpResponse:
    project = current_project(request)
    filters = selectors.FeedFilters.from_query(request.GET)
    partial = request.GET.get("partial", "")
    events, next_before = selectors.feed(project, filters)
    pp = _project_param(project)
    ctx: dict[str, Any] = {
        "events": events,
        "next_before": next_before,
        "filters": filters,
        "paged": bool(filters.before),
        "show_agent": True,
        "show_project": project is None,
        "current_project": project,
        "more_query": urlencode({"project": pp, **filters.as_query(before=next_before)}),
    }
    if partial == "live":
        # Oldest first: live.js prepends each new row, so the newest ends on top.
        ctx["events"] = list(reversed(events))
        return render(request, "agents/activity_live.html", ctx)
    if partial == "page":
        return render(request, "agents/activity.html#page", ctx)
    ctx.update(
        {
            "families": selectors.EVENT_FAMILIES,
            "kind_is_exact": bool(filters.kind)
            and filters.kind not in dict(selectors.EVENT_FAMILIES),
            "agents": selectors.feed_agents(project),
            "live_query": urlencode({"project": pp, **filters.as_query()}),
        }
    )
    return render(request, "agents/activity.html", ctx)


@require_http_methods(["GET", "POST"])
@admin_required
def project_lifecycle(request: HttpRequest, slug: str) -> HttpResponse:
    """A project's lifecycle thresholds and sleep schedule (admins)."""
    from django.db import transaction

    from apps.agents import policies
    from apps.agents.forms import LifecyclePolicyForm
    from apps.projects.selectors import project_get

    project = project_get(slug)
    schedule = policies.project_schedule(project)
    data = request.POST if request.method == "POST" else None
    policy_form = LifecyclePolicyForm(
        data, prefix="policy", initial=LifecyclePolicyForm.initial_from(policies.policy_of(project))
    )
    schedule_form, windows = _schedule_forms(data, schedule)
    if data is not None and policy_form.is_valid() and schedule_form.is_valid() and windows.is_valid():
        kept = _kept_windows(windows)
        try:
            with transaction.atomic():
                policies.lifecycle_policy_save(project=project, values=policy_form.seconds(),
                                               actor=request.user, request=request)
                if kept or schedule is not None:
                    policies.sleep_schedule_save(
                        project=project, timezone=schedule_form.cleaned_data["timezone"],
                        enabled=schedule_form.cleaned_data["enabled"], windows=kept,
                        actor=request.user, request=request,
                    )
        except ValidationError as exc:
            policy_form.add_error(None, exc)
        else:
            messages.success(request, "Lifecycle settings saved. They apply at the next sweep.")
            return redirect("project-lifecycle", slug=project.slug)
    invalid = data is not None
    return render(request, "agents/lifecycle.html", {
        "project": project, "active_tab": "lifecycle", "policy_form": policy_form,
        "schedule_form": schedule_form, "windows": windows,
    }, status=400 if invalid else 200)


def _schedule_forms(data: Any, schedule: Any) -> tuple[Any, Any]:
    """The sleep schedule's form and its windows' formset, filled from `schedule` (or empty)."""
    from apps.agents.forms import SleepScheduleForm, SleepWindowFormSet

    form = SleepScheduleForm(data, prefix="schedule", initial={
        "enabled": schedule.enabled if schedule else True,
        "timezone": schedule.timezone if schedule else "UTC",
    })
    windows = SleepWindowFormSet(data, prefix="windows", initial=[
        {"weekday": w.weekday, "start": w.start, "end": w.end}
        for w in (schedule.windows.all() if schedule else [])
    ])
    return form, windows


def _kept_windows(windows: Any) -> list[tuple[Any, Any, Any]]:
    return [(f.cleaned_data["weekday"], f.cleaned_data["start"], f.cleaned_data["end"])
            for f in windows.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")]  # blank extra rows: {}


@require_http_methods(["GET", "POST"])
@admin_required
def agent_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    """One agent's own sleep schedule (admins); without one it follows the project's."""
    from apps.agents import policies

    agent = selectors.agent_for_page(pk)
    if agent is None:
        raise Http404
    schedule = policies.agent_schedule(agent)
    if request.method == "POST" and request.POST.get("remove"):
        if policies.agent_schedule_delete(agent=agent, actor=request.user, request=request):
            messages.success(request, f"{agent.name} follows the project's sleep schedule again.")
        return redirect("agent-schedule", pk=agent.pk)
    data = request.POST if request.method == "POST" else None
    form, windows = _schedule_forms(data, schedule)
    if data is not None and form.is_valid() and windows.is_valid():
        policies.sleep_schedule_save(
            project=agent.project, agent=agent, timezone=form.cleaned_data["timezone"],
            enabled=form.cleaned_data["enabled"], windows=_kept_windows(windows),
            actor=request.user, request=request,
        )
        messages.success(request, f"Sleep schedule of {agent.name} saved.")
        return redirect("agent-schedule", pk=agent.pk)
    return render(request, "agents/schedule.html", {
        "agent": agent, "schedule": schedule, "schedule_form": form, "windows": windows,
        "project_schedule": policies.project_schedule(agent.project),
    }, status=400 if data is not None else 200)
