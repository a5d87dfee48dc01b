"""Database helpers shared by the backend, the test suite and the benchmarks."""

from __future__ import annotations

from typing import Any


def database_url(settings_dict: dict[str, Any], name: str | None = None) -> str:
    """A DATABASE_URL for a connection's settings (optionally another database name on the
    same server), to hand the same database to a subprocess (a platform, a worker)."""
    name = name or settings_dict["NAME"]
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{name}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    return f"postgres://{auth}{host}:{settings_dict.get('PORT') or 5432}/{name}"
