"""The endpoint API's shapes. The API key is write-only: answers carry `api_key_hint` only."""

from __future__ import annotations

from rest_framework import serializers

from apps.benches.models import Endpoint, EndpointKind, ProbeKind


class EndpointSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    models = serializers.ListField(source="models_list", child=serializers.CharField(),
                                   read_only=True)

    class Meta:
        model = Endpoint
        fields = [
            "id", "project", "name", "kind", "base_url", "api_key_hint", "default_model",
            "headers", "probe", "metrics_path", "enabled", "state", "state_changed_at",
            "last_probe_at", "last_seen_at", "last_latency_ms", "last_error",
            "consecutive_failures", "models", "models_fetched_at", "version", "created_at",
        ]
        read_only_fields = fields


class EndpointWriteSerializer(serializers.Serializer):
    """Create (name and base_url required) or change (any subset, PATCH) an endpoint."""

    project = serializers.CharField(
        required=False, help_text="Project slug; only for a browser session (a key writes to "
                                  "its own project).")
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=EndpointKind.choices, required=False)
    base_url = serializers.CharField(max_length=500, help_text="With or without /v1.")
    api_key = serializers.CharField(required=False, allow_blank=True, write_only=True,
                                    trim_whitespace=True,
                                    help_text="Stored encrypted, never returned; empty keeps it.")
    clear_api_key = serializers.BooleanField(required=False, write_only=True)
    default_model = serializers.CharField(max_length=200, required=False, allow_blank=True)
    headers = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    probe = serializers.ChoiceField(choices=ProbeKind.choices, required=False)
    metrics_path = serializers.CharField(max_length=200, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class ModelsSerializer(serializers.Serializer):
    models = serializers.ListField(child=serializers.CharField())
    fetched_at = serializers.DateTimeField(allow_null=True)
