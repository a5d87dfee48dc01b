"""Secrets at rest: a text field stored Fernet-encrypted (the key derived from SECRET_KEY, as
for the Linear key: apps.core.crypto). Read back it is plain text again; a row written
before the field was encrypted is read as it is and encrypted at its next save."""

from __future__ import annotations

from typing import Any

from django.db import models

FERNET_PREFIX = "gAAAAA"  # every Fernet token starts with its version byte, base64'd


class EncryptedTextField(models.TextField):
    description = "Text stored encrypted (Fernet, key from SECRET_KEY)"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not value:
            return value
        if not value.startswith(FERNET_PREFIX):
            return value  # written before encryption: plain until its next save
        from apps.core import crypto

        return crypto.decrypt(value)  # "" when SECRET_KEY changed: entered again

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        from apps.core import crypto

        return crypto.encrypt(value)
