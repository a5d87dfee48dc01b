"""A fake Linear on 127.0.0.1 that EXECUTES Linear's published schema with graphql-core.

Queries are validated and run against ../shared/linear/schema.graphql with resolvers over
in-memory fixture data, so a document Linear would reject fails here too. It speaks Linear's
rate-limit headers (and 429 / RATELIMITED errors when the budget is spent), checks the
Authorization header, refuses moves into states listed in `refuse_states`, records
webhookCreate calls and can send signed webhook deliveries like Linear does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from graphql import GraphQLError, GraphQLSchema, build_schema, graphql_sync

from tests.linear.fake_linear_agent import AgentAppMixin

SCHEMA_PATH = Path("/work/shared/linear/schema.graphql")
if not SCHEMA_PATH.exists():  # the checkout's sibling directory
    SCHEMA_PATH = Path(__file__).resolve().parents[3] / "shared" / "linear" / "schema.graphql"


@cache
def linear_schema() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text())


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _uid(prefix: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}-{n}"))


# --- connections over fixture lists -------------------------------------------------------------
def _cursor(item: dict[str, Any]) -> str:
    return base64.b64encode(item["id"].encode()).decode()


def _matches(item: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    if not flt:
        return True
    for key, cond in flt.items():
        if key == "and":
            if not all(_matches(item, f) for f in cond):
                return False
            continue
        if key == "or":
            if not any(_matches(item, f) for f in cond):
                return False
            continue
        value = item.get(key)
        if (
            isinstance(value, dict)
            and isinstance(cond, dict)
            and not set(cond) & {"eq", "in", "gt", "gte", "lt", "lte", "neq", "nin", "null"}
        ):
            if not _matches(value, cond):
                return False
            continue
        if value is None and isinstance(cond, dict) and cond.get("null") is True:
            continue
        for op, expected in (cond or {}).items():
            if op == "eq" and value != expected:
                return False
            if op == "neq" and value == expected:
                return False
            if op == "in" and value not in expected:
                return False
            if op == "nin" and value in expected:
                return False
            if op == "gt" and not (value is not None and value > expected):
                return False
            if op == "gte" and not (value is not None and value >= expected):
                return False
            if op == "lt" and not (value is not None and value < expected):
                return False
            if op == "lte" and not (value is not None and value <= expected):
                return False
            if op == "null" and (value is None) != expected:
                return False
    return True


def connection(
    items: list[dict[str, Any]],
    *,
    first: int | None = None,
    after: str | None = None,
    filter: dict[str, Any] | None = None,
    includeArchived: bool | None = None,
    orderBy: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    if first is not None and first > 250:
        raise GraphQLError("first must be at most 250", extensions={"code": "INVALID_INPUT"})
    rows = [
        i for i in items if (includeArchived or not i.get("archivedAt")) and _matches(i, filter)
    ]
    key = "updatedAt" if orderBy == "updatedAt" else "createdAt"
    rows.sort(key=lambda i: (i.get(key) or "", i["id"]))
    start = 0
    if after:
        target = base64.b64decode(after).decode()
        ids = [r["id"] for r in rows]
        start = ids.index(target) + 1 if target in ids else len(rows)
    size = first or 50
    page = rows[start : start + size]
    return {
        "nodes": page,
        "edges": [{"node": n, "cursor": _cursor(n)} for n in page],
        "pageInfo": {
            "hasNextPage": start + size < len(rows),
            "hasPreviousPage": start > 0,
            "startCursor": _cursor(page[0]) if page else None,
            "endCursor": _cursor(page[-1]) if page else None,
        },
    }


class Refused(Exception):
    pass


class FakeLinear(AgentAppMixin):
    """Fixture workspace + HTTP server. Use as a context manager or start()/stop()."""

    def __init__(self, *, api_key: str = "lin_api_test_key") -> None:
        self.api_key = api_key
        self.lock = threading.RLock()
        self.teams: list[dict[str, Any]] = []
        self.states: list[dict[str, Any]] = []
        self.projects: list[dict[str, Any]] = []
        self.cycles: list[dict[str, Any]] = []
        self.labels: list[dict[str, Any]] = []
        self.users: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self.issues_by_id: dict[str, dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []
        self.webhooks: list[dict[str, Any]] = []
        self.refuse_states: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        # rate limit: hourly in Linear; tests shrink the window
        self.rate_limit = 5000
        self.rate_remaining = 5000
        self.rate_window = 3600.0
        self.rate_reset_at = time.time() + self.rate_window
        self.rate_limit_style = "http"  # or "graphql" (HTTP 400 + RATELIMITED)
        self.fail_next: int = 0  # answer the next N requests with 500
        self.fail_requests: set[int] = set()  # answer these (1-based) requests with 500
        self.handled = 0
        # Refuse the next N requests as over the limit (another client spent the budget).
        self.ratelimit_next: int = 0
        self.clock = datetime(2026, 1, 1, tzinfo=UTC)
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.agent_app_init()

    # --- fixture building -------------------------------------------------------------------
    def tick(self) -> str:
        self.clock += timedelta(seconds=1)
        return iso(self.clock)

    def now(self) -> str:
        return iso(max(self.clock, datetime.now(UTC)))

    def add_team(self, key: str = "ENG", name: str = "Engineering") -> dict[str, Any]:
        n = len(self.teams)
        ts = self.tick()
        team: dict[str, Any] = {
            "id": _uid("team", n),
            "key": key,
            "name": name,
            "color": "#5e6ad2",
            "archivedAt": None,
            "createdAt": ts,
            "updatedAt": ts,
        }
        team["states"] = lambda info, **a: connection(
            [s for s in self.states if s["team"] is team], **a
        )
        team["labels"] = lambda info, **a: connection(
            [x for x in self.labels if x["team"] is team], **a
        )
        team["cycles"] = lambda info, **a: connection(
            [c for c in self.cycles if c["team"] is team], **a
        )
        team["projects"] = lambda info, **a: connection(
            [p for p in self.projects if team in p["_teams"]], **a
        )
        self.teams.append(team)
        for pos, (sname, stype, color) in enumerate(
            [
                ("Backlog", "backlog", "#bec2c8"),
                ("Todo", "unstarted", "#e2e2e2"),
                ("In Progress", "started", "#f2c94c"),
                ("In Review", "started", "#0f783c"),
                ("Done", "completed", "#5e6ad2"),
                ("Canceled", "canceled", "#95a2b3"),
            ]
        ):
            self.add_state(team, sname, stype, color, float(pos))
        return team

    def add_state(
        self,
        team: dict[str, Any],
        name: str,
        type_: str,
        color: str = "#888888",
        position: float = 0.0,
    ) -> dict[str, Any]:
        ts = self.tick()
        state = {
            "id": _uid("state", len(self.states)),
            "name": name,
            "type": type_,
            "color": color,
            "position": position,
            "team": team,
            "archivedAt": None,
            "createdAt": ts,
            "updatedAt": ts,
            "description": None,
        }
        self.states.append(state)
        return state

    def state(self, team: dict[str, Any], name: str) -> dict[str, Any]:
        return next(s for s in self.states if s["team"] is team and s["name"] == name)

    def add_user(self, name: str) -> dict[str, Any]:
        ts = self.tick()
        user = {
            "id": _uid("user", len(self.users)),
            "name": name,
            "displayName": name.split()[0].lower(),
            "email": f"{name.split()[0].lower()}@example.com",
            "avatarUrl": None,
            "active": True,
            "archivedAt": None,
            "createdAt": ts,
            "updatedAt": ts,
        }
        self.users.append(user)
        return user

    def add_label(
        self, name: str, team: dict[str, Any] | None = None, color: str = "#eb5757"
    ) -> dict[str, Any]:
        ts = self.tick()
        label = {
            "id": _uid("label", len(self.labels)),
            "name": name,
            "color": color,
            "team": team,
            "archivedAt": None,
            "createdAt": ts,
            "updatedAt": ts,
            "isGroup": False,
        }
        self.labels.append(label)
        return label

    def add_project(self, name: str, teams: list[dict[str, Any]]) -> dict[str, Any]:
        ts = self.tick()
        project: dict[str, Any] = {
            "id": _uid("project", len(self.projects)),
            "name": name,
            "url": f"https://linear.app/acme/project/{name.lower()}",
            "status": {"name": "In Progress"},
            "archivedAt": None,
            "createdAt": ts,
            "updatedAt": ts,
            "_teams": teams,
        }
        project["teams"] = lambda info, **a: connection(project["_teams"], **a)
        self.projects.append(project)
        return project

    def add_cycle(self, team: dict[str, Any], number: int) -> dict[str, Any]:
        ts = self.tick()
        cycle = {
            "id": _uid("cycle", len(self.cycles)),
            "number": float(number),
            "name": f"Sprint {number}",
            "startsAt": ts,
            "endsAt": iso(self.clock + timedelta(days=14)),
            "team": team,
            "archivedAt": None,
            "createdAt": ts,
            "updatedAt": ts,
        }
        self.cycles.append(cycle)
        return cycle

    def add_issue(
        self,
        team: dict[str, Any],
        title: str,
        *,
        state: dict[str, Any] | None = None,
        priority: int = 0,
        estimate: float | None = None,
        assignee: dict[str, Any] | None = None,
        labels: list[dict[str, Any]] | None = None,
        project: dict[str, Any] | None = None,
        cycle: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        number = sum(1 for i in self.issues if i["team"] is team) + 1
        ts = self.tick()
        issue = {
            "id": _uid(f"issue-{team['key']}", number),
            "identifier": f"{team['key']}-{number}",
            "number": float(number),
            "title": title,
            "description": f"Details of {title}.",
            "priority": float(priority),
            "estimate": estimate,
            "sortOrder": float(number),
            "url": f"https://linear.app/acme/issue/{team['key']}-{number}",
            "createdAt": ts,
            "updatedAt": ts,
            "archivedAt": None,
            "trashed": None,
            "team": team,
            "state": state or self.state(team, "Todo"),
            "assignee": assignee,
            "project": project,
            "cycle": cycle,
            "labelIds": [x["id"] for x in labels or []],
        }
        self.issues.append(issue)
        self.issues_by_id[issue["id"]] = issue
        return issue

    def touch(self, issue: dict[str, Any], **changes: Any) -> dict[str, Any]:
        with self.lock:
            issue.update(changes)
            issue["updatedAt"] = self.tick()
        return issue

    def seed(self, *, issues: int = 20, teams: int = 1) -> FakeLinear:
        """A workspace: teams with the usual states, users, labels, a project, cycles, issues."""
        for t in range(teams):
            self.add_team(
                key=["ENG", "OPS", "WEB"][t % 3] + ("" if t < 3 else str(t)),
                name=["Engineering", "Operations", "Web"][t % 3],
            )
        people = [self.add_user(n) for n in ("Ada Lovelace", "Grace Hopper", "Alan Turing")]
        bug = self.add_label("Bug", color="#eb5757")
        feature = self.add_label("Feature", color="#bb87fc")
        agent = self.add_label("agent", color="#4cb782")
        project = self.add_project("Launch", self.teams)
        cycles = [self.add_cycle(team, 1) for team in self.teams]
        names = [
            "Fix login redirect",
            "Add CSV export",
            "Speed up search",
            "Retry failed uploads",
            "Dark mode for settings",
            "Audit log filters",
            "Rate-limit the API",
            "Onboarding email",
        ]
        for n in range(issues):
            team = self.teams[n % len(self.teams)]
            states = [
                s for s in self.states if s["team"] is team and s["type"] not in ("canceled",)
            ]
            self.add_issue(
                team,
                f"{names[n % len(names)]} #{n + 1}",
                state=states[n % len(states)],
                priority=n % 5,
                estimate=float(n % 4 + 1) if n % 3 else None,
                assignee=people[n % 3] if n % 4 else None,
                labels=[[bug], [feature], [agent, bug], []][n % 4],
                project=project if n % 2 else None,
                cycle=cycles[n % len(cycles)] if n % 3 == 0 else None,
            )
        return self

    # --- resolvers --------------------------------------------------------------------------
    def _root(self) -> dict[str, Any]:
        fake = self

        def team(info: Any, id: str) -> dict[str, Any]:
            found = next((t for t in fake.teams if t["id"] == id or t["key"] == id), None)
            if found is None:
                raise GraphQLError("Entity not found: Team", extensions={"code": "INVALID_INPUT"})
            return found

        def issue(info: Any, id: str) -> dict[str, Any]:
            found = fake.issues_by_id.get(id) or next(
                (i for i in fake.issues if i["identifier"] == id), None
            )
            if found is None:
                raise GraphQLError("Entity not found: Issue", extensions={"code": "INVALID_INPUT"})
            return found

        return {
            "teams": lambda info, **a: connection(fake.teams, **a),
            "workflowStates": lambda info, **a: connection(fake.states, **a),
            "projects": lambda info, **a: connection(fake.projects, **a),
            "cycles": lambda info, **a: connection(fake.cycles, **a),
            "issueLabels": lambda info, **a: connection(fake.labels, **a),
            "users": lambda info, **a: connection(
                fake.users, **{k: v for k, v in a.items() if k != "includeDisabled"}
            ),
            "issues": lambda info, **a: connection(
                [i for i in fake.issues if not i.get("trashed")], **a
            ),
            "team": team,
            "issue": issue,
            "viewer": {"id": "viewer-1", "name": "Switchboard Bot", "email": "bot@example.com"},
            "organization": {"id": "org-1", "name": "Acme Inc", "urlKey": "acme"},
            "issueUpdate": self._issue_update,
            "commentCreate": self._comment_create,
            "webhookCreate": self._webhook_create,
            **self.agent_app_root(),
        }

    def _issue_update(self, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            issue = self.issues_by_id.get(id)
            if issue is None:
                raise GraphQLError("Entity not found: Issue", extensions={"code": "INVALID_INPUT"})
            if "stateId" in input:
                state = next((s for s in self.states if s["id"] == input["stateId"]), None)
                if state is None or state["team"] is not issue["team"]:
                    raise GraphQLError(
                        "Argument Validation Error: stateId is not a state of this team",
                        extensions={"code": "INVALID_INPUT"},
                    )
                if state["id"] in self.refuse_states:
                    raise GraphQLError(
                        self.refuse_states[state["id"]], extensions={"code": "FORBIDDEN"}
                    )
                issue["state"] = state
            for key in ("title", "priority", "estimate"):
                if key in input:
                    issue[key] = input[key]
            issue["updatedAt"] = self.tick()
            return {"success": True, "issue": issue, "lastSyncId": 1.0}

    def _comment_create(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if input.get("issueId") not in self.issues_by_id:
                raise GraphQLError("Entity not found: Issue", extensions={"code": "INVALID_INPUT"})
            comment = {
                "id": _uid("comment", len(self.comments)),
                "body": input.get("body") or "",
                "issueId": input["issueId"],
                "createdAt": self.tick(),
            }
            self.comments.append(comment)
            return {"success": True, "comment": comment, "lastSyncId": 1.0}

    def _webhook_create(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            ts = self.tick()
            hook = {
                "id": _uid("webhook", len(self.webhooks)),
                "url": input["url"],
                "label": input.get("label"),
                "enabled": input.get("enabled", True),
                "secret": input.get("secret") or uuid.uuid4().hex,
                "resourceTypes": input["resourceTypes"],
                "allPublicTeams": bool(input.get("allPublicTeams")),
                "createdAt": ts,
                "updatedAt": ts,
                "archivedAt": None,
            }
            self.webhooks.append(hook)
            return {"success": True, "webhook": hook, "lastSyncId": 1.0}

    # --- HTTP ------------------------------------------------------------------------------
    def rate_headers(self) -> dict[str, str]:
        reset_ms = str(int(self.rate_reset_at * 1000))
        return {
            "X-RateLimit-Requests-Limit": str(self.rate_limit),
            "X-RateLimit-Requests-Remaining": str(max(self.rate_remaining, 0)),
            "X-RateLimit-Requests-Reset": reset_ms,
            "X-RateLimit-Complexity-Limit": "3000000",
            "X-RateLimit-Complexity-Remaining": "2999000",
            "X-RateLimit-Complexity-Reset": reset_ms,
        }

    def handle(self, headers: Any, body: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self.lock:
            now = time.time()
            if now >= self.rate_reset_at:
                self.rate_remaining = self.rate_limit
                self.rate_reset_at = now + self.rate_window
            if not self.authorized(headers.get("Authorization") or ""):
                return (
                    401,
                    {},
                    {
                        "errors": [
                            {
                                "message": "Authentication required, not authenticated",
                                "extensions": {"code": "AUTHENTICATION_ERROR"},
                            }
                        ]
                    },
                )
            self.rate_remaining -= 1
            if self.ratelimit_next > 0:
                self.ratelimit_next -= 1
                self.rate_remaining = -1
                self.rate_reset_at = now + self.rate_window
            limited = self.rate_remaining < 0
            rate = self.rate_headers()
            self.handled += 1
            if self.fail_next > 0 or self.handled in self.fail_requests:
                self.fail_next = max(0, self.fail_next - 1)
                return 500, rate, {"errors": [{"message": "Internal error"}]}
        try:
            request = json.loads(body)
        except ValueError:
            return 400, rate, {"errors": [{"message": "Invalid JSON"}]}
        self.requests.append(
            {
                "query": request.get("query", ""),
                "variables": request.get("variables") or {},
                "limited": limited,
            }
        )
        if limited:
            error = {
                "errors": [
                    {"message": "Rate limit exceeded", "extensions": {"code": "RATELIMITED"}}
                ]
            }
            return (429 if self.rate_limit_style == "http" else 400), rate, error
        root = self._root()
        result = graphql_sync(
            linear_schema(),
            request.get("query", ""),
            root_value=root,
            variable_values=request.get("variables") or {},
        )
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [
                {"message": e.message, "extensions": e.extensions or {}} for e in result.errors
            ]
        status = 400 if result.errors and result.data is None else 200
        return status, rate, out

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/graphql"

    def start(self) -> FakeLinear:
        linear_schema()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                status, headers, body = fake.handle_get(self.path)
                self._answer(status, headers, body)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw_body = self.rfile.read(length)
                if self.path.startswith("/oauth/"):
                    status, headers, body = fake.handle_oauth_post(self.path, raw_body)
                else:
                    status, headers, body = fake.handle(self.headers, raw_body)
                self._answer(status, headers, body)

            def _answer(self, status: int, headers: dict[str, str], body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self) -> FakeLinear:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- webhooks like Linear sends them ---------------------------------------------------------
    def issue_payload(self, issue: dict[str, Any]) -> dict[str, Any]:
        """IssueWebhookPayload shape (flat ids + child objects)."""
        state = issue["state"]
        return {
            "id": issue["id"],
            "identifier": issue["identifier"],
            "number": issue["number"],
            "title": issue["title"],
            "description": issue["description"],
            "priority": issue["priority"],
            "priorityLabel": "",
            "estimate": issue["estimate"],
            "sortOrder": issue["sortOrder"],
            "url": issue["url"],
            "createdAt": issue["createdAt"],
            "updatedAt": issue["updatedAt"],
            "archivedAt": issue["archivedAt"],
            "trashed": issue["trashed"],
            "teamId": issue["team"]["id"],
            "team": {
                "id": issue["team"]["id"],
                "key": issue["team"]["key"],
                "name": issue["team"]["name"],
            },
            "stateId": state["id"],
            "state": {
                "id": state["id"],
                "name": state["name"],
                "color": state["color"],
                "type": state["type"],
            },
            "assigneeId": issue["assignee"]["id"] if issue["assignee"] else None,
            "projectId": issue["project"]["id"] if issue["project"] else None,
            "cycleId": issue["cycle"]["id"] if issue["cycle"] else None,
            "labelIds": list(issue["labelIds"]),
            "labels": [],
            "subscriberIds": [],
            "previousIdentifiers": [],
            "reactionData": {},
            "prioritySortOrder": 0.0,
        }

    def envelope(
        self, type_: str, action: str, data: dict[str, Any], *, timestamp_ms: float | None = None
    ) -> dict[str, Any]:
        return {
            "action": action,
            "type": type_,
            "data": data,
            "createdAt": self.now(),
            "organizationId": "org-1",
            "url": data.get("url"),
            "webhookId": "webhook-1",
            "webhookTimestamp": int(
                timestamp_ms if timestamp_ms is not None else time.time() * 1000
            ),
        }

    @staticmethod
    def signed(
        payload: dict[str, Any] | bytes, secret: str, delivery: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return body, {
            "Content-Type": "application/json",
            "Linear-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "Linear-Delivery": delivery or str(uuid.uuid4()),
            "Linear-Event": "",
        }

    def deliver(
        self, url: str, payload: dict[str, Any], secret: str | None = None
    ) -> requests.Response:
        secret = secret or (self.webhooks[-1]["secret"] if self.webhooks else "")
        body, headers = self.signed(payload, secret)
        headers["Linear-Event"] = payload.get("type", "")
        return requests.post(url, data=body, headers=headers, timeout=10)
