from __future__ import annotations

import re

from rest_framework import serializers

from apps.alerts.models import Alert, AlertRule, Channel
from apps.core.api.query import MAX_ID

KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


class AlertSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    rule_name = serializers.CharField(source="rule.name", read_only=True, default=None)
    agent_name = serializers.CharField(source="agent.name", read_only=True, default=None)

    class Meta:
        model = Alert
        fields = [
            "id", "state", "severity", "title", "message", "event_kind", "count", "project",
            "agent", "agent_name", "rule", "rule_name", "opened_at", "last_fired_at",
            "acknowledged_at", "resolved_at", "resolved_reason", "snoozed_until", "muted",
            "grouped", "members", "version",
        ]
        read_only_fields = fields


class AlertRuleSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(required=False)
    project = serializers.SlugRelatedField(
        slug_field="slug", required=False, allow_null=True,
        queryset=AlertRule._meta.get_field("project").related_model.objects.all(),
    )
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.values), required=False
    )
    threshold = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    window_minutes = serializers.IntegerField(min_value=1, max_value=10080, required=False)
    action_interval_minutes = serializers.IntegerField(min_value=0, max_value=10080, required=False)

    class Meta:
        model = AlertRule
        fields = [
            "id", "name", "enabled", "project", "event_kind", "agent_kind", "threshold",
            "window_minutes", "severity", "channels", "action_interval_minutes",
            "respect_sleep_windows", "respect_quiet_hours", "version", "updated_at",
        ]
        read_only_fields = ["version", "updated_at"]

    def validate_event_kind(self, value: str) -> str:
        value = value.strip().lower()
        if not KIND_RE.match(value) or value.startswith("alert."):
            raise serializers.ValidationError("Use a dotted event kind such as agent.blocked.")
        from django.core.exceptions import ValidationError

        from apps.alerts import kinds

        try:
            kinds.validate(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages[0]) from None
        return value

    def validate_agent_kind(self, value: str) -> str:
        from django.core.exceptions import ValidationError

        from apps.agents.kinds import validate_kind

        value = (value or "").strip().lower()
        if value:
            try:
                validate_kind(value)
            except ValidationError as exc:
                raise serializers.ValidationError(exc.messages[0]) from None
        return value


class RulesPutSerializer(serializers.Serializer):
    rules = AlertRuleSerializer(many=True, allow_empty=False)


class SnoozeSerializer(serializers.Serializer):
    snooze = serializers.ChoiceField(
        choices=["1h", "tomorrow", "custom", "off"],
        help_text="1h; tomorrow (09:00 in the team's time zone); custom (needs until); off wakes it")
    until = serializers.DateTimeField(required=False, allow_null=True,
                                      help_text="For custom: when the snooze ends")


class BulkSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["ack", "resolve", "snooze"])
    alerts = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
                                   min_length=1,
                                   max_length=500)
    snooze = serializers.ChoiceField(choices=["1h", "tomorrow", "custom"], required=False)
    until = serializers.DateTimeField(required=False, allow_null=True)


class BulkResultSerializer(serializers.Serializer):
    changed = serializers.IntegerField(help_text="how many alerts changed state")
    alerts = AlertSerializer(many=True)


class MuteSerializer(serializers.ModelSerializer):
    agent_name = serializers.CharField(source="agent.name", read_only=True, default=None)
    rule_name = serializers.CharField(source="rule.name", read_only=True, default=None)
    duration = serializers.ChoiceField(
        choices=["1h", "4h", "24h", "7d", ""], required=False, write_only=True,
        help_text="Instead of until: how long; empty = until lifted")

    class Meta:
        from apps.alerts.models import AlertMute

        model = AlertMute
        fields = ["id", "agent", "agent_name", "rule", "rule_name", "until", "duration", "reason",
                  "created_at", "lifted_at"]
        read_only_fields = ["id", "created_at", "lifted_at"]
