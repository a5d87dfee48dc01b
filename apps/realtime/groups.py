"""Channel-layer group names. Only apps/realtime talks to Channels."""

from __future__ import annotations


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


def agent_group(agent_id: int) -> str:
    return f"agent.{agent_id}"


def pulse_group(project_id: int) -> str:
    """Heartbeat pulses of a project's agents (pages that show a last-heartbeat time)."""
    return f"pulse.{project_id}"


def user_group(user_id: int) -> str:
    """Every live page a person has open: told to re-authorise when their role changes or
    they are removed from the team."""
    return f"user.{user_id}"


def bench_run_group(run_id: int) -> str:
    """A bench run's page: progress, level by level, and its end."""
    return f"bench.run.{run_id}"


def benches_group(project_id: int) -> str:
    """The benches pages of a project: endpoint states and runs starting or ending."""
    return f"benches.{project_id}"
