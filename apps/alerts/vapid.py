"""The VAPID key pair: generated on first use, stored in the database, reused forever."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from django.db import IntegrityError, transaction
from py_vapid import Vapid02 as Vapid

from apps.alerts.models import VapidKey


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def key() -> VapidKey:
    existing = VapidKey.objects.order_by("id").first()
    if existing is not None and existing.private_pem:
        return existing
    if existing is not None:  # stored under another SECRET_KEY: unreadable, make a new pair
        VapidKey.objects.filter(pk=existing.pk).delete()
    v = Vapid()
    v.generate_keys()
    pem = v.private_pem().decode()
    public = v.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    try:
        with transaction.atomic():
            VapidKey.objects.create(private_pem=pem, public_key=_b64url(public))
    except IntegrityError:
        pass
    # Two first uses at once: everyone uses the oldest row.
    return VapidKey.objects.order_by("id").first()  # type: ignore[return-value]


def public_key() -> str:
    return key().public_key


def signer() -> Vapid:
    return Vapid.from_pem(key().private_pem.encode())
