from __future__ import annotations

from django.apps import AppConfig

from config.env import env_int


class AgentsConfig(AppConfig):
    name = "apps.agents"
    label = "agents"

    def ready(self) -> None:
        from apps.core.schedule import add_periodic

        # The time-based lifecycle rules; each sweep is idempotent and claims rows itself.
        every = env_int("AGENTS_SWEEP_SECONDS", 30, minimum=1)
        add_periodic("agents-sweep-idle", "agents.sweep_idle", every)
        add_periodic("agents-sweep-offline", "agents.sweep_offline", every)
        add_periodic("agents-sweep-sleep-windows", "agents.sweep_sleep_windows", every)
