"""The owners' admin for alert mutes: read there, lifted through the service (audited)."""

from __future__ import annotations

from apps.alerts import services
from apps.alerts.models import AlertMute
from apps.core.audit import AuditEntry


def test_owners_read_and_lift_mutes_in_the_admin(client, owner, agent):
    mute = services.mute_create(user=owner, agent=agent)
    client.force_login(owner)
    assert client.get("/admin/alerts/alertmute/").status_code == 200
    r = client.post("/admin/alerts/alertmute/", {"action": "lift", "_selected_action": [mute.pk]})
    assert r.status_code == 302
    assert AlertMute.objects.get().lifted_at is not None
    assert AuditEntry.objects.filter(action="alert_mute.lifted").count() == 1
