from django.apps import AppConfig

from config.env import env_int


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from apps.core.nav import register_nav
        from apps.core.roles import Role
        from apps.core.schedule import add_periodic

        register_nav("System status", "system-status", order=90, role=Role.OWNER, section="settings")

        add_periodic("core-beat-tick", "core.beat_tick", env_int("BEAT_TICK_SECONDS", 30, minimum=1))
