"""The Linear-agent half of the fake Linear: the OAuth app flow (`actor=app`), app tokens,
agent sessions, the activity mutations, and AgentSessionEvent webhooks signed like Linear's.

Mixed into FakeLinear, which executes the real schema: every activity and session document
Switchboard sends is validated against ../shared/linear/schema.graphql before it is answered.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import requests
from graphql import GraphQLError

ACTIVITY_TYPES = {"thought", "action", "elicitation", "response", "error"}
PLAN_STATUSES = {"pending", "inProgress", "completed", "canceled"}
REQUIRED_SCOPES = {"app:assignable", "app:mentionable"}


class AgentAppMixin:
    # provided by FakeLinear
    api_key: str
    lock: Any
    webhooks: list[dict[str, Any]]
    issues_by_id: dict[str, dict[str, Any]]

    def agent_app_init(self) -> None:
        self.oauth_client_id = "lin-client-id"
        self.oauth_client_secret = "lin-client-secret"
        self.oauth_codes: dict[str, dict[str, str]] = {}
        self.app_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.authorize_requests: list[dict[str, Any]] = []
        self.agent_sessions: dict[str, dict[str, Any]] = {}
        self.activities: list[dict[str, Any]] = []
        self.session_updates: list[dict[str, Any]] = []
        self.token_lifetime = 86399

    # --- auth -------------------------------------------------------------------------------
    def authorized(self, header: str) -> bool:
        if header == self.api_key:
            return True
        return header.startswith("Bearer ") and header[7:] in self.app_tokens

    def handle_get(self, path: str) -> tuple[int, dict[str, str], Any]:
        """GET /oauth/authorize: the consent page, answered at once as if the owner clicked
        Authorize (or with error=invalid_scope when the app scopes are missing)."""
        url = urlparse(path)
        if url.path != "/oauth/authorize":
            return 404, {}, {"error": "not found"}
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.authorize_requests.append(query)
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != self.oauth_client_id or not redirect:
            return 400, {}, {"error": "invalid_client"}
        scopes = set((query.get("scope") or "").replace(" ", ",").split(","))
        if query.get("actor") != "app" or not REQUIRED_SCOPES <= scopes:
            answer = {"error": "invalid_scope", "state": query.get("state", "")}
        else:
            code = secrets.token_hex(8)
            self.oauth_codes[code] = {"redirect_uri": redirect, "scope": query.get("scope", "")}
            answer = {"code": code, "state": query.get("state", "")}
        return 302, {"Location": f"{redirect}?{urlencode(answer)}"}, {}

    def handle_oauth_post(self, path: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        if urlparse(path).path != "/oauth/token":
            return 404, {}, {"error": "not found"}
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if (form.get("client_id"), form.get("client_secret")) != (
                self.oauth_client_id, self.oauth_client_secret):
            return 401, {}, {"error": "invalid_client"}
        with self.lock:
            if form.get("grant_type") == "authorization_code":
                grant = self.oauth_codes.pop(form.get("code", ""), None)
                if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                    return 400, {}, {"error": "invalid_grant",
                                     "error_description": "code is invalid or expired"}
                scope = grant["scope"]
            elif form.get("grant_type") == "refresh_token":
                if form.get("refresh_token") not in self.refresh_tokens:
                    return 400, {}, {"error": "invalid_grant"}
                self.refresh_tokens.discard(form["refresh_token"])
                scope = "read,write,app:assignable,app:mentionable"
            else:
                return 400, {}, {"error": "unsupported_grant_type"}
            token, refresh = f"lin_oauth_{secrets.token_hex(12)}", secrets.token_hex(12)
            self.app_tokens.add(token)
            self.refresh_tokens.add(refresh)
        return 200, {}, {"access_token": token, "token_type": "Bearer",
                         "expires_in": self.token_lifetime, "scope": scope.split(","),
                         "refresh_token": refresh}

    # --- GraphQL ------------------------------------------------------------------------------
    def agent_app_root(self) -> dict[str, Any]:
        return {"agentActivityCreate": self._activity_create,
                "agentSessionUpdate": self._session_update}

    def _activity_create(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            session = self.agent_sessions.get(input["agentSessionId"])
            if session is None:
                raise GraphQLError("Entity not found: AgentSession",
                                   extensions={"code": "INVALID_INPUT"})
            content = input.get("content") or {}
            kind = content.get("type")
            if kind not in ACTIVITY_TYPES:
                raise GraphQLError(f"Invalid activity type {kind!r}",
                                   extensions={"code": "INVALID_INPUT"})
            needs = ("action", "parameter") if kind == "action" else ("body",)
            if any(not isinstance(content.get(k), str) or not content[k] for k in needs):
                raise GraphQLError(f"{kind} content needs {', '.join(needs)}",
                                   extensions={"code": "INVALID_INPUT"})
            activity_id = input.get("id") or str(uuid.uuid4())
            if any(a["id"] == activity_id for a in self.activities):
                raise GraphQLError("Entity already exists: AgentActivity",
                                   extensions={"code": "INVALID_INPUT"})
            activity = {"id": activity_id, "agentSessionId": session["id"], "content": content,
                        "ephemeral": bool(input.get("ephemeral")), "at": time.time()}
            self.activities.append(activity)
            status = {"elicitation": "awaitingInput", "response": "complete",
                      "error": "error"}.get(kind, "active")
            session["status"] = status
            return {"success": True, "agentActivity": activity, "lastSyncId": 1.0}

    def _session_update(self, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            session = self.agent_sessions.get(id)
            if session is None:
                raise GraphQLError("Entity not found: AgentSession",
                                   extensions={"code": "INVALID_INPUT"})
            self.session_updates.append({"id": id, "input": input})
            if input.get("externalUrls") is not None:
                session["externalUrls"] = input["externalUrls"]
            if input.get("plan") is not None:
                plan = input["plan"]
                # Linear's plan: the whole checklist, each step {content, status}.
                if not isinstance(plan, list) or any(
                        not isinstance(step, dict) or set(step) != {"content", "status"}
                        or not isinstance(step["content"], str) or not step["content"]
                        or step["status"] not in PLAN_STATUSES for step in plan):
                    raise GraphQLError("Invalid plan", extensions={"code": "INVALID_INPUT"})
                session["plan"] = plan
            return {"success": True, "agentSession": session, "lastSyncId": 1.0}

    def session_activities(self, session_id: str) -> list[dict[str, Any]]:
        return [a for a in self.activities if a["agentSessionId"] == session_id]

    # --- agent sessions and their webhooks ------------------------------------------------------
    def open_session(self, issue: dict[str, Any] | None, *, creator: str = "Ada Lovelace",
                     issue_id: str | None = None) -> dict[str, Any]:
        """Delegating `issue` to the app: Linear creates a session (sent by `session_event`)."""
        sid = str(uuid.uuid4())
        now = self.now()  # type: ignore[attr-defined]
        issue_part = None
        if issue is not None:
            issue_part = {"id": issue["id"], "identifier": issue["identifier"],
                          "title": issue["title"], "description": issue.get("description"),
                          "url": issue["url"], "teamId": issue["team"]["id"],
                          "team": {"id": issue["team"]["id"], "key": issue["team"]["key"],
                                   "name": issue["team"]["name"]}}
        session = {"id": sid, "status": "pending", "createdAt": now, "updatedAt": now,
                   "appUserId": "app-user-1", "organizationId": "org-1", "type": "issue",
                   "issueId": issue_id or (issue["id"] if issue else None), "issue": issue_part,
                   "creatorId": "user-ada", "creator": {"id": "user-ada", "name": creator},
                   "url": f"https://linear.app/acme/issue/{issue['identifier'] if issue else 'X'}"
                          f"#agent-session-{sid[:8]}"}
        with self.lock:
            self.agent_sessions[sid] = session
        return session

    def session_event(self, action: str, session: dict[str, Any], *, body: str = "",
                      signal: str | None = None, timestamp_ms: float | None = None
                      ) -> dict[str, Any]:
        """AgentSessionEventWebhookPayload for `created` or `prompted`."""
        payload: dict[str, Any] = {
            "type": "AgentSessionEvent", "action": action,
            "agentSession": {k: v for k, v in session.items()
                             if k not in ("externalUrls", "plan")},
            "appUserId": "app-user-1", "oauthClientId": self.oauth_client_id,
            "organizationId": "org-1", "createdAt": self.now(),  # type: ignore[attr-defined]
            "webhookId": self.session_webhook()["id"] if self.session_webhook() else "wh",
            "webhookTimestamp": int(timestamp_ms if timestamp_ms is not None
                                    else time.time() * 1000),
        }
        if action == "created":
            issue = session.get("issue") or {}
            payload["promptContext"] = (f"<issue identifier=\"{issue.get('identifier')}\">"
                                        f"<title>{issue.get('title')}</title></issue>")
        if action == "prompted":
            payload["agentActivity"] = {
                "id": str(uuid.uuid4()), "agentSessionId": session["id"],
                "content": {"type": "prompt", "body": body}, "signal": signal,
                "createdAt": self.now(), "updatedAt": self.now(),  # type: ignore[attr-defined]
                "userId": "user-ada", "user": {"id": "user-ada", "name": "Ada Lovelace"}}
        return payload

    def session_webhook(self) -> dict[str, Any] | None:
        return next((w for w in reversed(self.webhooks)
                     if "AgentSessionEvent" in w["resourceTypes"]), None)

    def deliver_session_event(self, url: str, payload: dict[str, Any], *,
                              secret: str | None = None, delivery: str | None = None
                              ) -> requests.Response:
        hook = self.session_webhook()
        secret = secret if secret is not None else (hook["secret"] if hook else "")
        body = json.dumps(payload).encode()
        headers = self.signed(body, secret, delivery)[1]  # type: ignore[attr-defined]
        headers["Linear-Event"] = "AgentSessionEvent"
        return requests.post(url, data=body, headers=headers, timeout=10)
