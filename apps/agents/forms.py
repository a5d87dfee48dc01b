"""Forms of the project's lifecycle settings page (thresholds and the sleep schedule)."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any

from django import forms

from apps.agents.models import Weekday


@cache
def timezone_choices() -> list[tuple[str, str]]:
    names = sorted(n for n in zoneinfo.available_timezones() if "/" in n or n == "UTC")
    return [(n, n.replace("_", " ")) for n in names]


class LifecyclePolicyForm(forms.Form):
    """The thresholds in minutes (stored in seconds)."""

    idle_after = forms.IntegerField(
        label="Blocked (idle) after", min_value=1, max_value=24 * 60,
        help_text="Minutes without a heartbeat before a working agent counts as blocked.")
    offline_after = forms.IntegerField(
        label="Offline after", min_value=1, max_value=7 * 24 * 60,
        help_text="Minutes without a heartbeat before any agent counts as offline.")
    error_window = forms.IntegerField(
        label="Error window", min_value=1, max_value=24 * 60,
        help_text="Minutes the error counts below look back.")
    block_after_errors = forms.IntegerField(
        label="Block after errors", min_value=1, max_value=1000,
        help_text="Errors within the window that block the agent.")
    sleep_after_errors = forms.IntegerField(
        label="Sleep after errors", min_value=1, max_value=1000,
        help_text="Errors within the window that put the agent to sleep.")

    @classmethod
    def initial_from(cls, policy: Any) -> dict[str, int]:
        return {
            "idle_after": max(1, round(policy.idle_after_seconds / 60)),
            "offline_after": max(1, round(policy.offline_after_seconds / 60)),
            "error_window": max(1, round(policy.error_window_seconds / 60)),
            "block_after_errors": policy.block_after_errors,
            "sleep_after_errors": policy.sleep_after_errors,
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        idle, offline = data.get("idle_after"), data.get("offline_after")
        if idle and offline and offline <= idle:
            self.add_error("offline_after", "Must be longer than the idle time, or idle never shows.")
        block, sleep = data.get("block_after_errors"), data.get("sleep_after_errors")
        if block and sleep and sleep < block:
            self.add_error("sleep_after_errors", "Must be at least the number that blocks.")
        return data

    def seconds(self) -> dict[str, int]:
        d = self.cleaned_data
        return {
            "idle_after_seconds": d["idle_after"] * 60,
            "offline_after_seconds": d["offline_after"] * 60,
            "error_window_seconds": d["error_window"] * 60,
            "block_after_errors": d["block_after_errors"],
            "sleep_after_errors": d["sleep_after_errors"],
        }


class SleepScheduleForm(forms.Form):
    enabled = forms.BooleanField(
        label="Put idle agents to sleep in these windows", required=False)
    timezone = forms.ChoiceField(label="Time zone", choices=timezone_choices)


class SleepWindowForm(forms.Form):
    # A blank first choice, so an untouched extra row stays unchanged (and is skipped).
    weekday = forms.TypedChoiceField(label="Day", choices=[("", "—"), *Weekday.choices],
                                     coerce=int, empty_value=None)
    start = forms.TimeField(label="From", widget=forms.TimeInput(attrs={"type": "time"}))
    end = forms.TimeField(
        label="Until", widget=forms.TimeInput(attrs={"type": "time"}),
        help_text="At or before the start: the next day.")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("start") is not None and data.get("start") == data.get("end"):
            raise forms.ValidationError("A window from a time to the same time would last a day; "
                                        "give it an end.")
        return data


SleepWindowFormSet = forms.formset_factory(
    SleepWindowForm, extra=2, can_delete=True, max_num=28, validate_max=True)
