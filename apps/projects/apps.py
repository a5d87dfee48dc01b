from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "apps.projects"
    label = "projects"

    def ready(self) -> None:
        from apps.core.nav import register_nav
        from apps.projects import schema  # noqa: F401 (registers the OpenAPI auth extension)

        register_nav("Projects", "project-list", order=50)
        from django.db.models.signals import post_delete, post_save

        from apps.projects.authentication import forget_api_keys
        from apps.projects.models import ApiKey, Project

        def forget(**kwargs: object) -> None:
            forget_api_keys()

        for model in (ApiKey, Project):
            post_save.connect(forget, sender=model, dispatch_uid=f"forget-keys-{model.__name__}")
            post_delete.connect(forget, sender=model, dispatch_uid=f"forget-keys-d-{model.__name__}")
