from django.apps import AppConfig


class BenchesConfig(AppConfig):
    name = "apps.benches"
    label = "benches"
