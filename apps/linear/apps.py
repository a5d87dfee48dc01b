from django.apps import AppConfig


class LinearConfig(AppConfig):
    name = "apps.linear"
    label = "linear"
