"""Email with a plain-text and an HTML body: console in the embedded mode, SMTP in production."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from apps.alerts.transports import TransportError


def send(delivery, message) -> str:  # noqa: ANN001
    prefix = {"critical": "[Critical] ", "warning": "[Warning] "}.get(message.severity, "")
    mail = EmailMultiAlternatives(
        subject=(prefix + message.title)[:200],
        body=message.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.target],
        headers={"X-Switchboard-Event": message.event_type},
    )
    mail.attach_alternative(message.html, "text/html")
    try:
        mail.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        raise TransportError(f"recipient refused: {exc}", retryable=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TransportError(f"SMTP: {exc}") from exc
    return f"mailed {delivery.target}"
