from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        from apps.accounts import checks, signals  # noqa: F401 (registers checks and receivers)
        from apps.accounts.github import configure_github_adapter, github_form_action
        from apps.core.middleware import FORM_ACTION_SOURCES
        from apps.core.nav import register_nav
        from apps.core.roles import Role

        configure_github_adapter()
        FORM_ACTION_SOURCES.append(github_form_action)
        register_nav("Team", "team", order=70, role=Role.VIEWER, section="settings")
        register_nav("Sign-in", "settings-sign-in", order=75, role=Role.OWNER, section="settings")
        register_nav("Audit log", "audit", order=80, role=Role.ADMIN, section="settings")
