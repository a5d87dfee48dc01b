from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        from apps.accounts import checks, signals  # noqa: F401 (registers checks and receivers)
        from apps.accounts.github import configure_github_adapter
        from apps.core.nav import register_nav
        from apps.core.roles import Role

        configure_github_adapter()
        register_nav("Team", "team", order=70, role=Role.VIEWER, section="settings")
        register_nav("Audit log", "audit", order=80, role=Role.ADMIN, section="settings")
