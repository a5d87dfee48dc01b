"""The alerts API: list, acknowledge, resolve; rules under /settings/alerts (admins).

A project API key sees only its project's alerts; a browser session sees the team's."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from apps.alerts import selectors, services
from apps.alerts.models import Alert, AlertMute, AlertRule, AlertState
from apps.alerts.serializers import (
    AlertRuleSerializer,
    AlertSerializer,
    BulkResultSerializer,
    BulkSerializer,
    MuteSerializer,
    RulesPutSerializer,
    SnoozeSerializer,
)
from apps.core.api.permissions import IsTeamAdmin, api_key_of
from apps.core.api.query import id_param
from apps.core.api.throttles import WRITE_THROTTLES


def _alerts(request: Request) -> Any:
    qs = Alert.objects.select_related("project", "agent", "rule")
    key = api_key_of(request)
    return qs.filter(project=key.project) if key is not None else qs


class AlertListView(ListAPIView):
    serializer_class = AlertSerializer

    @extend_schema(parameters=[
        OpenApiParameter("state", str,
                         enum=["open", "acknowledged", "resolved", "active", "snoozed"]),
        OpenApiParameter("project", str, description="project slug"),
        OpenApiParameter("agent", int),
    ])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        request = self.request
        qs = _alerts(request)
        state = request.query_params.get("state")
        if state in ("active", "snoozed"):
            qs = selectors.filtered(qs, selectors.InboxFilters(state=state))
        elif state is not None:
            if state not in AlertState.values:
                raise ValidationError({"state": [
                    f"One of: active, snoozed, {', '.join(AlertState.values)}."]})
            qs = qs.filter(state=state)
        if request.query_params.get("project"):
            qs = qs.filter(project__slug=request.query_params["project"])
        agent = id_param(request, "agent")
        if agent is not None:
            qs = qs.filter(agent_id=agent)
        return qs


class AlertActionSerializer(serializers.Serializer):
    changed = serializers.BooleanField(help_text="false when the alert was already in that state")
    alert = AlertSerializer()


class _AlertAction(GenericAPIView):
    serializer_class = AlertActionSerializer
    throttle_classes = WRITE_THROTTLES

    def act(self, alert: Alert, user: Any) -> bool:
        raise NotImplementedError

    @extend_schema(request=None, responses=AlertActionSerializer)
    def post(self, request: Request, pk: int) -> Response:
        alert = get_object_or_404(_alerts(request), pk=pk)
        changed = self.act(alert, request.user)
        alert.refresh_from_db()
        return Response({"changed": changed, "alert": AlertSerializer(alert).data})


class AlertAckView(_AlertAction):
    def act(self, alert: Alert, user: Any) -> bool:
        return services.alert_acknowledge(alert=alert, user=user)


class AlertResolveView(_AlertAction):
    def act(self, alert: Alert, user: Any) -> bool:
        return services.alert_resolve(alert=alert, user=user)


def _snooze_until(data: dict) -> Any:
    try:
        return services.snooze_until(choice=data.get("snooze", ""), custom=data.get("until"))
    except DjangoValidationError as exc:
        raise ValidationError({"snooze": exc.messages}) from None


class AlertSnoozeView(GenericAPIView):
    """Snooze (1h, tomorrow 09:00 in the team's zone, custom until) or wake (off) an alert:
    it leaves the active list and its notifications are held until the snooze ends."""

    serializer_class = AlertActionSerializer
    throttle_classes = WRITE_THROTTLES

    def get_queryset(self) -> Any:
        return _alerts(self.request)

    @extend_schema(request=SnoozeSerializer, responses=AlertActionSerializer)
    def post(self, request: Request, pk: int) -> Response:
        alert = get_object_or_404(_alerts(request), pk=pk)
        ser = SnoozeSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        if ser.validated_data["snooze"] == "off":
            changed = services.alert_unsnooze(alert=alert, user=request.user,
                                              request=request._request)
        else:
            until = _snooze_until(ser.validated_data)
            changed = services.alert_snooze(alert=alert, until=until, user=request.user,
                                            request=request._request)
        alert.refresh_from_db()
        return Response({"changed": changed, "alert": AlertSerializer(alert).data})


class AlertBulkView(GenericAPIView):
    """Acknowledge, resolve or snooze many alerts at once (ids outside the caller's scope are
    ignored)."""

    serializer_class = BulkResultSerializer
    throttle_classes = WRITE_THROTTLES

    def get_queryset(self) -> Any:
        return _alerts(self.request)

    @extend_schema(request=BulkSerializer, responses=BulkResultSerializer)
    def post(self, request: Request) -> Response:
        ser = BulkSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        until = _snooze_until(data) if data["action"] == "snooze" else None
        alerts = list(_alerts(request).filter(pk__in=data["alerts"]).order_by("id"))
        changed = services.alerts_bulk(alerts=alerts, action=data["action"], user=request.user,
                                       until=until, request=request._request)
        fresh = _alerts(request).filter(pk__in=[a.pk for a in alerts]).order_by("id")
        return Response({"changed": changed, "alerts": AlertSerializer(fresh, many=True).data})


class MuteListView(ListAPIView):
    """GET the mutes in force; POST one for an agent or a rule (admins)."""

    permission_classes = [IsTeamAdmin]
    serializer_class = MuteSerializer
    throttle_classes = WRITE_THROTTLES

    def get_queryset(self) -> Any:
        from django.utils import timezone

        return (AlertMute.objects.filter(AlertMute.active_q(timezone.now()))
                .select_related("agent", "rule").order_by("-created_at", "-id"))

    @extend_schema(request=MuteSerializer, responses={201: MuteSerializer})
    def post(self, request: Request) -> Response:
        ser = MuteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        try:
            until = data.get("until")
            if until is None and data.get("duration"):
                until = services.mute_until(data["duration"])
            mute = services.mute_create(user=request.user, agent=data.get("agent"),
                                        rule=data.get("rule"), until=until,
                                        reason=data.get("reason", ""), request=request._request)
        except DjangoValidationError as exc:
            raise ValidationError({"non_field_errors": exc.messages}) from None
        return Response(MuteSerializer(mute).data, status=status.HTTP_201_CREATED)


class MuteLiftView(GenericAPIView):
    permission_classes = [IsTeamAdmin]
    serializer_class = MuteSerializer
    throttle_classes = WRITE_THROTTLES

    def get_queryset(self) -> Any:
        return AlertMute.objects.all()

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        mute = get_object_or_404(AlertMute, pk=pk)
        services.mute_lift(mute=mute, user=request.user, request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleSettingsView(GenericAPIView):
    """GET every rule; PUT {"rules": [...]} creates (no id) or updates (id) each one."""

    permission_classes = [IsTeamAdmin]
    serializer_class = AlertRuleSerializer
    pagination_class = None
    throttle_classes = WRITE_THROTTLES

    def get(self, request: Request) -> Response:
        rules = AlertRule.objects.select_related("project").order_by("id")
        return Response({"rules": AlertRuleSerializer(rules, many=True).data})

    @extend_schema(request=RulesPutSerializer)
    def put(self, request: Request) -> Response:
        items = request.data.get("rules") if isinstance(request.data, dict) else None
        if not isinstance(items, list) or not items:
            raise ValidationError({"rules": ["A non-empty list of rules."]})
        prepared, errors, failed = [], [], False
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                errors.append({"non_field_errors": ["An object."]})
                failed = True
                continue
            instance = None
            if item.get("id") is not None:
                instance = AlertRule.objects.filter(pk=item["id"]).first()
                if instance is None:
                    raise NotFound(f"rules[{index}]: no rule with id {item['id']}.")
            ser = AlertRuleSerializer(instance, data=item, partial=instance is not None)
            ok = ser.is_valid()
            errors.append({} if ok else ser.errors)
            failed = failed or not ok
            prepared.append((instance, ser))
        if failed:  # all or nothing: a half-applied rule set is worse than none
            raise ValidationError({"rules": errors})
        with transaction.atomic():
            for instance, ser in prepared:
                data = dict(ser.validated_data)
                data.pop("id", None)
                rule = instance or AlertRule()
                for field, value in data.items():
                    setattr(rule, field, value)
                services.rule_save(rule=rule, actor=request.user, request=request._request)
        return self.get(request)


class RuleDeleteView(GenericAPIView):
    permission_classes = [IsTeamAdmin]
    serializer_class = AlertRuleSerializer
    throttle_classes = WRITE_THROTTLES

    def delete(self, request: Request, pk: int) -> Response:
        rule = get_object_or_404(AlertRule, pk=pk)
        services.rule_delete(rule=rule, actor=request.user, request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)
