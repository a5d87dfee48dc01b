from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "apps.realtime"
    label = "realtime"

    def ready(self) -> None:
        from apps.core.nav import register_nav

        # The control-room pages (apps/agents/views.py) are built together with their consumers
        # here; registering them here keeps apps/agents/apps.py to the agents engine.
        register_nav("Overview", "overview", order=10)
        register_nav("Agents", "agents-list", order=20)
        register_nav("Activity", "activity", order=30)
        from apps.agents.search import find_agents
        from apps.core.search import register_search

        register_search("agents", "Agents", find_agents, order=10)
