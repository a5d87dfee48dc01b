"""The measurement engine of a bench run: streams requests at a model endpoint, `concurrency`
at a time, and measures each one the way `vllm bench serve` does.

Pure asyncio and httpx, no Django: a Celery task or a management command wraps it later.

Per request (a `Sample`), times from `time.perf_counter()` taken when the request has been
written (see WIRE_START_EVENTS):
- ttft_ms: until the first chunk that carries content (a role-only first chunk does not count);
- itl_ms: the gaps between successive content chunks;
- output_tokens: from the server's `usage` when it sends it, else the number of content chunks;
- e2e_ms: until the stream ends.
Per level (a `Level`): mean/p50/p90/p99 of TTFT, ITL (over every gap of every request), TPOT
((E2E - TTFT) / (output tokens - 1) per request with more than one token) and E2E; output
tokens/s and requests/s over the level's wall time; goodput, the requests/s that met the SLOs.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import math
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import certifi
import httpx

ANTHROPIC_VERSION = "2023-06-01"
ERROR_BODY_CHARS = 200

TargetKind = Literal["openai", "anthropic"]


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    base_url: str
    model: str
    api_key: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Sample:
    ttft_ms: float | None = None
    itl_ms: list[float] = field(default_factory=list)
    output_tokens: int = 0
    e2e_ms: float | None = None
    error: str = ""
    started_s: float = 0.0  # when it was sent, in seconds after the level started
    wait_ms: float = 0.0  # from the engine asking to the request being sent: its own cost

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def tpot_ms(self) -> float | None:
        if self.error or self.ttft_ms is None or self.e2e_ms is None or self.output_tokens < 2:
            return None
        return (self.e2e_ms - self.ttft_ms) / (self.output_tokens - 1)


@dataclass(frozen=True)
class Summary:
    count: int = 0
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


@dataclass(frozen=True)
class Slo:
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None

    def met_by(self, sample: Sample) -> bool:
        if not sample.ok:
            return False
        checks = (
            (self.ttft_ms, sample.ttft_ms),
            (self.tpot_ms, sample.tpot_ms),
            (self.e2e_ms, sample.e2e_ms),
        )
        # A request with one output token has no TPOT, so it cannot break a TPOT SLO.
        return all(limit is None or value is None or value <= limit for limit, value in checks)


@dataclass
class Level:
    concurrency: int
    requests: int
    samples: list[Sample]
    duration_s: float
    cancelled: bool = False
    slo: Slo | None = None
    started: float = 0.0  # time.perf_counter() when the measured requests began
    rate: float | None = None  # requests/s of a rate level; concurrency is then the peak

    @property
    def completed(self) -> int:
        return sum(1 for s in self.samples if s.ok)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if not s.ok)

    def _ok(self) -> list[Sample]:
        return [s for s in self.samples if s.ok]

    @property
    def ttft(self) -> Summary:
        return summarize([s.ttft_ms for s in self._ok() if s.ttft_ms is not None])

    @property
    def itl(self) -> Summary:
        return summarize([gap for s in self._ok() for gap in s.itl_ms])

    @property
    def tpot(self) -> Summary:
        return summarize([t for s in self._ok() if (t := s.tpot_ms) is not None])

    @property
    def e2e(self) -> Summary:
        return summarize([s.e2e_ms for s in self._ok() if s.e2e_ms is not None])

    @property
    def output_tokens(self) -> int:
        return sum(s.output_tokens for s in self._ok())

    @property
    def output_tokens_per_s(self) -> float:
        return self.output_tokens / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def requests_per_s(self) -> float:
        return self.completed / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def goodput(self) -> float | None:
        """Requests per second that met every SLO; None without SLOs."""
        if self.slo is None or self.duration_s <= 0:
            return None
        return sum(1 for s in self.samples if self.slo.met_by(s)) / self.duration_s


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks, as numpy.percentile (what vllm reports)."""
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        return Summary()
    ordered = sorted(values)
    return Summary(
        count=len(ordered),
        mean=sum(ordered) / len(ordered),
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        p99=percentile(ordered, 99),
    )


# --- the wire formats ----------------------------------------------------------------------
def request_for(
    target: Target, *, prompt: str, max_tokens: int
) -> tuple[str, dict[str, str], dict[str, Any]]:
    base = target.base_url.rstrip("/").removesuffix("/v1")  # given with or without it
    headers = {"content-type": "application/json"}
    messages = [{"role": "user", "content": prompt}]
    if target.kind == "anthropic":
        headers |= {"anthropic-version": ANTHROPIC_VERSION}
        if target.api_key:
            headers["x-api-key"] = target.api_key
        body = {
            "model": target.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "stream": True,
        }
        url = f"{base}/v1/messages"
    elif target.kind == "openai":
        if target.api_key:
            headers["authorization"] = f"Bearer {target.api_key}"
        body = {
            "model": target.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        url = f"{base}/v1/chat/completions"
    else:
        raise ValueError(f"unknown target kind {target.kind!r}")
    headers |= dict(target.headers)
    return url, headers, body


class StreamError(Exception):
    """The server reported an error inside a stream that had started."""


def _openai_event(data: dict[str, Any]) -> tuple[bool, int | None]:
    """(carries content, output tokens from usage) of one chat.completion.chunk."""
    if "error" in data:
        raise StreamError(json.dumps(data["error"])[:ERROR_BODY_CHARS])
    content = False
    for choice in data.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"):
            content = True
    usage = data.get("usage")
    return content, (usage.get("completion_tokens") if usage else None)


def _anthropic_event(data: dict[str, Any]) -> tuple[bool, int | None]:
    kind = data.get("type")
    if kind == "content_block_delta":
        delta = data.get("delta") or {}
        return bool(delta.get("text") or delta.get("thinking") or delta.get("partial_json")), None
    if kind == "message_delta":
        # message_start's usage counts output tokens before any were made; this one is final.
        return False, (data.get("usage") or {}).get("output_tokens")
    if kind == "error":
        raise StreamError(json.dumps(data.get("error"))[:ERROR_BODY_CHARS])
    return False, None


# --- one request ---------------------------------------------------------------------------
# A request's clock starts when httpx has written it (its body is complete), not when the
# engine asks for it nor when httpx starts writing: in a closed loop at concurrency N against a
# steady server, the N streams end together and their N successors are built and written on one
# event loop in a burst, so a clock started before the write counted our own work on the other
# N-1 requests in every TTFT. Against the loopback fake (TTFT 100 ms, 32 streams) the clock
# started at the headers read TTFT p50 122-131 ms, at the body's end 100-103 ms; GuideLLM, which
# spreads its requests out, read 102-105 ms (benchmarks/peer_compare.py). Connecting (TCP, TLS)
# is left out too: agents reuse their connections. `Sample.wait_ms` keeps what was left out.
WIRE_START_EVENTS = frozenset({"http11.send_request_body.complete",
                               "http2.send_request_body.complete"})


async def measure_one(
    client: httpx.AsyncClient,
    target: Target,
    *,
    prompt: str,
    max_tokens: int,
    timeout: float,
    level_start: float = 0.0,
) -> Sample:
    url, headers, body = request_for(target, prompt=prompt, max_tokens=max_tokens)
    parse = _anthropic_event if target.kind == "anthropic" else _openai_event
    clock = time.perf_counter
    sample = Sample()
    chunks = 0
    usage_tokens: int | None = None
    on_wire: list[float] = []

    async def trace(event: str, info: dict[str, Any]) -> None:
        if not on_wire and event in WIRE_START_EVENTS:
            on_wire.append(clock())

    asked = start = last = clock()
    try:
        async with asyncio.timeout(timeout):
            async with client.stream(
                "POST", url, headers=headers, json=body, extensions={"trace": trace}
            ) as response:
                if on_wire:
                    sample.wait_ms = (on_wire[0] - asked) * 1000
                    start = last = on_wire[0]
                if response.status_code >= 400:
                    text = (await response.aread()).decode("utf-8", "replace")
                    sample.error = f"HTTP {response.status_code}: {text[:ERROR_BODY_CHARS]}"
                    sample.started_s = start - level_start if level_start else 0.0
                    return sample
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue  # blank separators, `event:` names, `:` keep-alive comments
                    now = clock()
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    content, tokens = parse(json.loads(payload))
                    if tokens is not None:
                        usage_tokens = tokens
                    if content:
                        if chunks:
                            sample.itl_ms.append((now - last) * 1000)
                        else:
                            sample.ttft_ms = (now - start) * 1000
                        last = now
                        chunks += 1
        sample.e2e_ms = (clock() - start) * 1000
        sample.output_tokens = usage_tokens if usage_tokens is not None else chunks
        if not chunks:
            sample.error = "the stream ended without content"
    except TimeoutError:
        sample.error = f"timeout after {timeout:g} s"
    except Exception as exc:  # noqa: BLE001 - a failed request is a sample, never a crash
        sample.error = f"{type(exc).__name__}: {exc}"[:ERROR_BODY_CHARS]
    sample.started_s = start - level_start if level_start else 0.0
    return sample


# --- a level -------------------------------------------------------------------------------
OnSample = Callable[[Sample], Awaitable[None] | None]


async def _drive(
    clients: Sequence[httpx.AsyncClient],
    target: Target,
    *,
    count: int,
    prompt: str,
    max_tokens: int,
    timeout: float,
    level_start: float,
    done: list[Sample],
    on_sample: OnSample | None,
) -> None:
    """`count` requests through one worker per client, each sample appended as it finishes."""
    issued = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal issued
        while issued < count:
            issued += 1
            sample = await measure_one(
                client,
                target,
                prompt=prompt,
                max_tokens=max_tokens,
                timeout=timeout,
                level_start=level_start,
            )
            done.append(sample)
            if on_sample is not None:
                result = on_sample(sample)
                if inspect.isawaitable(result):
                    await result

    await asyncio.gather(*(worker(client) for client in clients[:count]))


async def _until_cancelled(work: Awaitable[None], cancel: asyncio.Event | None) -> bool:
    """Runs `work`; True when `cancel` was set first (then `work` is cancelled)."""
    task = asyncio.ensure_future(work)
    if cancel is None:
        await task
        return False
    waiter = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        return True
    task.result()  # an exception in the engine itself is a bug: let it out
    return False


def _stream_client(*, timeout: float, tls: ssl.SSLContext) -> httpx.AsyncClient:
    """One connection for one stream at a time (see run_level); asyncio.timeout bounds each
    request, httpx's own timeout only backs it up."""
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        timeout=httpx.Timeout(timeout + 5),
        verify=tls,
    )


async def run_level(
    target: Target,
    *,
    concurrency: int,
    requests: int,
    prompt: str,
    max_tokens: int,
    timeout: float,
    warmup: int = 0,
    cancel: asyncio.Event | None = None,
    on_sample: OnSample | None = None,
    slo: Slo | None = None,
) -> Level:
    """`requests` streaming requests, at most `concurrency` in flight, after `warmup` unmeasured
    ones. `timeout` bounds each request from start to end of stream; one that overruns, fails or
    answers an HTTP error is a sample with `error` set, never an exception. Setting `cancel`
    stops new requests and abandons those in flight; the samples that had finished are kept and
    the level says it was cancelled. `on_sample` (a function or a coroutine function) sees each
    measured sample as it finishes, e.g. to store it or to set `cancel`."""
    if concurrency < 1 or requests < 0 or warmup < 0:
        raise ValueError("concurrency must be >= 1, requests and warmup >= 0")
    # One client, so one connection, per worker: a shared httpcore pool scans its connections
    # for each request under one lock. In a burst of 64 streams straight on httpx 0.28 the
    # median request took 446 ms to reach a loopback server that way against 15 ms with a
    # client each; in benchmarks/bench_engine.py the engine's send p50 at 256 streams went from
    # 236 to 188 ms. That time is inside TTFT. asyncio.timeout bounds each request; httpx's own
    # timeouts only back it up.
    tls = ssl.create_default_context(cafile=certifi.where())  # loaded once, not per client
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(_stream_client(timeout=timeout, tls=tls))
            for _ in range(concurrency)
        ]
        common = dict(prompt=prompt, max_tokens=max_tokens, timeout=timeout)
        if warmup:
            cancelled = await _until_cancelled(
                _drive(
                    clients,
                    target,
                    count=warmup,
                    level_start=0.0,
                    done=[],
                    on_sample=None,
                    **common,
                ),
                cancel,
            )
            if cancelled:
                return Level(concurrency, requests, [], 0.0, cancelled=True, slo=slo)
        samples: list[Sample] = []
        start = time.perf_counter()
        cancelled = await _until_cancelled(
            _drive(
                clients,
                target,
                count=requests,
                level_start=start,
                done=samples,
                on_sample=on_sample,
                **common,
            ),
            cancel,
        )
        duration = time.perf_counter() - start
    return Level(
        concurrency, requests, samples, duration, cancelled=cancelled, slo=slo, started=start
    )


# --- a request rate ------------------------------------------------------------------------
ArrivalKind = Literal["constant", "poisson"]
MAX_RATE_STREAMS = 512  # bounded fan-out: beyond this many in flight, arrivals wait for one


def arrival_times(
    *, rate: float, requests: int, arrival: ArrivalKind, seed: int = 0
) -> list[float]:
    """Seconds after the start at which each request leaves: every 1/rate s (constant), or
    with exponential gaps of mean 1/rate (Poisson arrivals, as `vllm bench serve
    --request-rate` with burstiness 1), from a seeded generator so a run can be repeated."""
    if rate <= 0:
        raise ValueError("rate must be > 0")
    if arrival == "constant":
        return [i / rate for i in range(requests)]
    rng = random.Random(seed)
    at, times = 0.0, []
    for _ in range(requests):
        times.append(at)
        at += rng.expovariate(rate)
    return times


async def run_rate(
    target: Target,
    *,
    rate: float,
    requests: int,
    prompt: str,
    max_tokens: int,
    timeout: float,
    arrival: ArrivalKind = "constant",
    seed: int = 0,
    warmup: int = 0,
    max_streams: int = MAX_RATE_STREAMS,
    cancel: asyncio.Event | None = None,
    on_sample: OnSample | None = None,
    slo: Slo | None = None,
) -> Level:
    """`requests` streaming requests sent at `rate` per second whatever the server's pace (an
    open loop: a slow server builds a queue, which TTFT shows), after `warmup` unmeasured ones
    sent one at a time. At most `max_streams` are in flight; `level.concurrency` is the most
    that were. Cancel and `on_sample` as in `run_level`."""
    if requests < 0 or warmup < 0 or max_streams < 1:
        raise ValueError("requests and warmup must be >= 0, max_streams >= 1")
    schedule = arrival_times(rate=rate, requests=requests, arrival=arrival, seed=seed)
    tls = ssl.create_default_context(cafile=certifi.where())
    idle: list[httpx.AsyncClient] = []
    made: list[httpx.AsyncClient] = []
    slots = asyncio.Semaphore(max_streams)
    in_flight = peak = 0
    common = dict(prompt=prompt, max_tokens=max_tokens, timeout=timeout)

    def client() -> httpx.AsyncClient:
        if idle:
            return idle.pop()
        made.append(_stream_client(timeout=timeout, tls=tls))
        return made[-1]

    samples: list[Sample] = []
    start = 0.0

    async def one(measured: bool) -> None:
        nonlocal in_flight, peak
        async with slots:
            in_flight += 1
            peak = max(peak, in_flight) if measured else peak
            c = client()
            try:
                sample = await measure_one(
                    c, target, level_start=start if measured else 0.0, **common
                )
            finally:
                in_flight -= 1
                idle.append(c)
        if measured:
            samples.append(sample)
            if on_sample is not None:
                result = on_sample(sample)
                if inspect.isawaitable(result):
                    await result

    async def warm() -> None:
        for _ in range(warmup):
            await one(False)

    async def measured() -> None:
        nonlocal start
        start = time.perf_counter()
        tasks = []
        for at in schedule:
            delay = start + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one(True)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    try:
        if warmup and await _until_cancelled(warm(), cancel):
            return Level(0, requests, [], 0.0, cancelled=True, slo=slo)
        cancelled = await _until_cancelled(measured(), cancel)
        duration = time.perf_counter() - start
    finally:
        await asyncio.gather(*(c.aclose() for c in made), return_exceptions=True)
    level = Level(peak, requests, samples, duration, cancelled=cancelled, slo=slo, started=start)
    level.rate = rate
    return level
