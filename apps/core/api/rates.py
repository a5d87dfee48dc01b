"""Rate strings such as `600/min` or `100/10s`. No Django or DRF imports: settings use this to
reject a bad RATE_LIMIT_* value at start-up."""

from __future__ import annotations

import re

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """(requests, window seconds), or None when limiting is off ("off", "none" or empty)."""
    if rate is None or rate.strip().lower() in ("", "off", "none"):
        return None
    match = _RATE.match(rate.lower())
    if not match or match.group(3) not in _UNITS:
        raise ValueError(
            f"{rate!r} is not a rate; use requests/period such as 600/min, 20/s, 100/10s, "
            "5000/hour, or off."
        )
    count, multiplier, unit = match.groups()
    seconds = int(multiplier or 1) * _UNITS[unit]
    if seconds <= 0:
        raise ValueError(f"{rate!r} has an empty period.")
    return int(count), seconds
