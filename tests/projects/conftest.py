from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(request, settings):
    """The shared `team` fixture hashes four passwords with PBKDF2 (about a second each here);
    a fast hasher keeps these tests quick. Not for tests that sign in to the live platform
    process, which verifies passwords with the real settings."""
    if request.node.get_closest_marker("browser") or request.node.get_closest_marker("live"):
        return
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
