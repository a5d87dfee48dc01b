from django.apps import AppConfig


class LinearConfig(AppConfig):
    name = "apps.linear"
    label = "linear"

    def ready(self) -> None:
        from django.conf import settings

        from apps.core.events import register_reactor
        from apps.core.nav import register_nav
        from apps.core.roles import Role
        from apps.core.schedule import add_periodic
        from apps.linear.routing import reactor

        register_nav("Board", "board", order=30)
        register_nav("Linear", "linear-settings", order=60, role=Role.ADMIN, section="settings")
        register_nav(
            "Routing rules", "linear-routing", order=61, role=Role.ADMIN, section="settings"
        )
        add_periodic(
            "linear-incremental-sync",
            "linear.incremental_sync",
            settings.LINEAR_SYNC_INTERVAL_SECONDS,
        )
        add_periodic("linear-sweep-deliveries", "linear.sweep_deliveries",
                     settings.LINEAR_SWEEP_SECONDS)
        register_reactor("linear.routing", reactor)
        from apps.linear import agent_sessions

        register_reactor("linear.agent_sessions", agent_sessions.reactor)
        add_periodic("linear-session-outbox", "linear.session_outbox_sweep", 10)
        add_periodic("linear-session-actions", "linear.session_actions",
                     settings.LINEAR_AGENT_ACTION_INTERVAL_SECONDS)
        from apps.core.search import register_search
        from apps.linear.search import find_issues

        register_search("linear", "Linear issues", find_issues, order=20)
