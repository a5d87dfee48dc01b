"""Foreign traffic: requests an endpoint is serving for someone else, read from its Prometheus
`/metrics` where the server has one (vLLM, SGLang, llama.cpp with --metrics).

A bench run measures the endpoint alone; anyone else's requests in flight make its figures
worse than the truth, so a run asks for confirmation first and marks its result polluted.
"""

from __future__ import annotations

import re

import httpx

# Gauges of requests running or queued, by server. Summed over their label sets (one per
# model or engine).
IN_FLIGHT_GAUGES = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "sglang:num_running_reqs",
    "sglang:num_queue_reqs",
    "llamacpp:requests_processing",
    "llamacpp:requests_deferred",
)
TIMEOUT_S = 3.0
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def in_flight_from(text: str) -> int | None:
    """Requests in flight in a Prometheus text exposition; None when it has none of the
    gauges (not a serving engine we know)."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match and match.group(1) in IN_FLIGHT_GAUGES:
            try:
                total += float(match.group(3))
            except ValueError:
                continue
            seen = True
    return round(total) if seen else None


def foreign_requests(
    *, root_url: str, metrics_path: str, headers: dict[str, str] | None = None,
    own: int = 0,
) -> int | None:
    """In-flight requests that are not ours (`own` of them are); None when the endpoint has no
    readable metrics (the check is skipped, not failed)."""
    if not metrics_path:
        return None
    url = root_url.rstrip("/") + "/" + metrics_path.lstrip("/")
    try:
        response = httpx.get(url, headers=headers or {}, timeout=TIMEOUT_S)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    count = in_flight_from(response.text)
    return None if count is None else max(0, count - own)
