"""Secrets at rest (the Linear key, model endpoint keys, encrypted fields): Fernet with a key
derived from SECRET_KEY. The setting keeps its first user's name, LINEAR_ENCRYPTION_KEY: its
derivation must not change, or every stored secret becomes unreadable."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    return Fernet(settings.LINEAR_ENCRYPTION_KEY)


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode() if value else ""


def decrypt(token: str) -> str:
    """ "" when empty or undecryptable (SECRET_KEY changed): the owner enters it again."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        return ""
