"""Rows for the global search tests: a mapped Linear team with issues, an alert."""

from __future__ import annotations

from typing import Any


def linear_issue(project: Any, identifier: str, title: str, *, team_key: str = "ENG") -> Any:
    from apps.linear.models import LinearIssue, LinearTeam, ProjectMapping

    team, _ = LinearTeam.objects.get_or_create(linear_id=f"team-{team_key}",
                                               defaults={"key": team_key, "name": team_key})
    if project is not None:
        ProjectMapping.objects.get_or_create(project=project, defaults={"team": team})
    number = int(identifier.split("-")[1])
    return LinearIssue.objects.create(linear_id=f"issue-{identifier}", identifier=identifier,
                                      number=number, title=title, team=team,
                                      url=f"https://linear.app/acme/issue/{identifier}")


def alert(project: Any, title: str) -> Any:
    from apps.alerts.models import Alert

    return Alert.objects.create(project=project, dedupe_key=f"t:{title[:40]}", title=title,
                                event_kind="agent.error")
