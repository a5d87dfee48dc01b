"""Moved to apps.core.crypto (other apps store secrets the same way); kept for old imports."""

from apps.core.crypto import decrypt, encrypt

__all__ = ["decrypt", "encrypt"]
