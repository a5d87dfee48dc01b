from django.apps import AppConfig


class BenchesConfig(AppConfig):
    name = "apps.benches"
    label = "benches"

    def ready(self) -> None:
        from django.conf import settings

        from apps.core.schedule import add_periodic

        add_periodic("benches-schedule", "benches.schedule", settings.BENCH_SCHEDULE_SECONDS)
