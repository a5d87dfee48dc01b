"""Every GraphQL document Switchboard sends to Linear. tests/linear/test_queries.py validates
each one in DOCUMENTS against Linear's published schema, so a field Linear would reject fails
a test here, not in production."""

from __future__ import annotations

PAGE_SIZE = 250  # Linear's maximum nodes per page

ISSUE_FIELDS = """
fragment IssueFields on Issue {
  id identifier number title description priority estimate sortOrder url
  createdAt updatedAt archivedAt trashed labelIds
  team { id }
  state { id }
  assignee { id name displayName email avatarUrl active }
  project { id }
  cycle { id }
}
"""

STATE_FIELDS = "id name type color position archivedAt team { id }"
LABEL_FIELDS = "id name color archivedAt team { id }"
CYCLE_FIELDS = "id number name startsAt endsAt archivedAt team { id }"
PROJECT_FIELDS = "id name url archivedAt status { name } teams(first: 50) { nodes { id } }"
PAGE_INFO = "pageInfo { hasNextPage endCursor }"

VIEWER = """
query Viewer {
  viewer { id name }
  organization { id name urlKey }
}
"""

# Full sync, dependency order: everything an issue points at comes in one request (each
# connection paged on its own with @include when it has more than one page).
WORKSPACE = f"""
query Workspace(
  $first: Int!,
  $withTeams: Boolean!, $teamsAfter: String,
  $withStates: Boolean!, $statesAfter: String,
  $withProjects: Boolean!, $projectsAfter: String,
  $withCycles: Boolean!, $cyclesAfter: String,
  $withLabels: Boolean!, $labelsAfter: String,
  $withUsers: Boolean!, $usersAfter: String
) {{
  teams(first: $first, after: $teamsAfter, includeArchived: true) @include(if: $withTeams) {{
    nodes {{ id key name color archivedAt updatedAt }} {PAGE_INFO}
  }}
  workflowStates(first: $first, after: $statesAfter, includeArchived: true) @include(if: $withStates) {{
    nodes {{ {STATE_FIELDS} }} {PAGE_INFO}
  }}
  projects(first: $first, after: $projectsAfter, includeArchived: true) @include(if: $withProjects) {{
    nodes {{ {PROJECT_FIELDS} }} {PAGE_INFO}
  }}
  cycles(first: $first, after: $cyclesAfter, includeArchived: true) @include(if: $withCycles) {{
    nodes {{ {CYCLE_FIELDS} }} {PAGE_INFO}
  }}
  issueLabels(first: $first, after: $labelsAfter, includeArchived: true) @include(if: $withLabels) {{
    nodes {{ {LABEL_FIELDS} }} {PAGE_INFO}
  }}
  users(first: $first, after: $usersAfter, includeDisabled: true) @include(if: $withUsers) {{
    nodes {{ id name displayName email avatarUrl active }} {PAGE_INFO}
  }}
}}
"""

ISSUES = (
    """
query Issues($first: Int!, $after: String) {
  issues(first: $first, after: $after, includeArchived: true, orderBy: createdAt) {
    nodes { ...IssueFields }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + ISSUE_FIELDS
)

# Incremental sync: one request per team brings whatever changed since the watermark.
TEAM_CHANGES = (
    f"""
query TeamChanges(
  $teamId: String!, $teamIdEq: ID!, $since: DateTimeOrDuration!, $first: Int!,
  $after: String, $withTeam: Boolean!
) {{
  team(id: $teamId) @include(if: $withTeam) {{
    id key name color archivedAt updatedAt
    states(first: $first, includeArchived: true, filter: {{ updatedAt: {{ gt: $since }} }}) {{
      nodes {{ {STATE_FIELDS} }}
    }}
    labels(first: $first, includeArchived: true, filter: {{ updatedAt: {{ gt: $since }} }}) {{
      nodes {{ {LABEL_FIELDS} }}
    }}
    cycles(first: $first, includeArchived: true, filter: {{ updatedAt: {{ gt: $since }} }}) {{
      nodes {{ {CYCLE_FIELDS} }}
    }}
    projects(first: $first, includeArchived: true, filter: {{ updatedAt: {{ gt: $since }} }}) {{
      nodes {{ {PROJECT_FIELDS} }}
    }}
  }}
  issues(
    first: $first, after: $after, includeArchived: true, orderBy: updatedAt,
    filter: {{ team: {{ id: {{ eq: $teamIdEq }} }}, updatedAt: {{ gt: $since }} }}
  ) {{
    nodes {{ ...IssueFields }}
    {PAGE_INFO}
  }}
}}
"""
    + ISSUE_FIELDS
)

ISSUE = (
    """
query Issue($id: String!) {
  issue(id: $id) { ...IssueFields }
}
"""
    + ISSUE_FIELDS
)

ISSUE_UPDATE = (
    """
mutation IssueUpdate($id: String!, $input: IssueUpdateInput!) {
  issueUpdate(id: $id, input: $input) {
    success
    issue { ...IssueFields }
  }
}
"""
    + ISSUE_FIELDS
)

COMMENT_CREATE = """
mutation CommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) {
    success
    comment { id }
  }
}
"""

WEBHOOK_CREATE = """
mutation WebhookCreate($input: WebhookCreateInput!) {
  webhookCreate(input: $input) {
    success
    webhook { id url enabled }
  }
}
"""

DOCUMENTS = {
    "Viewer": VIEWER,
    "Workspace": WORKSPACE,
    "Issues": ISSUES,
    "TeamChanges": TEAM_CHANGES,
    "Issue": ISSUE,
    "IssueUpdate": ISSUE_UPDATE,
    "CommentCreate": COMMENT_CREATE,
    "WebhookCreate": WEBHOOK_CREATE,
}

# --- Switchboard as a Linear agent (app token: `Bearer …`) ---------------------------------------
APP_VIEWER = """
query AppViewer {
  viewer { id name }
  organization { id name urlKey }
}
"""

AGENT_ACTIVITY_CREATE = """
mutation AgentActivityCreate($input: AgentActivityCreateInput!) {
  agentActivityCreate(input: $input) {
    success
    agentActivity { id }
  }
}
"""

AGENT_SESSION_UPDATE = """
mutation AgentSessionUpdate($id: String!, $input: AgentSessionUpdateInput!) {
  agentSessionUpdate(id: $id, input: $input) {
    success
  }
}
"""

DOCUMENTS.update({
    "AppViewer": APP_VIEWER,
    "AgentActivityCreate": AGENT_ACTIVITY_CREATE,
    "AgentSessionUpdate": AGENT_SESSION_UPDATE,
})
