from django.apps import AppConfig


class BenchesConfig(AppConfig):
    name = "apps.benches"
    label = "benches"

    def ready(self) -> None:
        from django.conf import settings

        from apps.core.nav import register_nav
        from apps.core.schedule import add_periodic

        register_nav("Benches", "benches", order=40, active_for=("bench-",))
        add_periodic("benches-schedule", "benches.schedule", settings.BENCH_SCHEDULE_SECONDS)
        add_periodic("benches-probe", "benches.probe_endpoints", settings.BENCH_PROBE_SECONDS)
