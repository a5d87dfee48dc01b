"""Write endpoints are rate limited per API key and per client IP on the shared cache."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.core.api.rates import parse_rate
from tests.conftest import make_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    def set_rates(key: str = "1000/min", ip: str = "1000/min", proxies: int = 0) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"write_key": key, "write_ip": ip},
            "NUM_PROXIES": proxies,
        }

    return set_rates


def client_for(raw: str, ip: str = "10.0.0.1") -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def write(client: APIClient, **extra):
    return client.patch("/api/v1/projects/apollo", {"description": "x"}, format="json", **extra)


# Hourly windows: a test never straddles a window boundary in practice (fixed windows reset).
def test_a_key_over_its_rate_gets_429_with_retry_after(rates, project, write_key):
    rates(key="3/hour")
    client = client_for(write_key)
    assert [write(client).status_code for _ in range(3)] == [200, 200, 200]
    response = write(client)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 3600
    body = response.json()
    assert body["error"].startswith("Request was throttled.") and body["details"] == {}
    # Another key from the same address has its own allowance.
    assert write(client_for(make_key(project))).status_code == 200


def test_reads_are_not_limited(rates, project, write_key):
    rates(key="1/hour", ip="1/hour")
    client = client_for(write_key)
    assert all(client.get("/api/v1/whoami").status_code == 200 for _ in range(5))


def test_an_address_over_its_rate_gets_429_across_keys(rates, project):
    rates(ip="2/hour")
    assert write(client_for(make_key(project))).status_code == 200
    assert write(client_for(make_key(project))).status_code == 200
    assert write(client_for(make_key(project))).status_code == 429
    assert write(client_for(make_key(project), ip="10.0.0.2")).status_code == 200


def test_the_client_address_comes_from_the_proxy_when_configured(rates, project, write_key):
    rates(ip="1/hour", proxies=1)
    client = client_for(write_key, ip="127.0.0.1")  # the reverse proxy
    assert write(client, HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 200
    assert write(client, HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 429
    assert write(client, HTTP_X_FORWARDED_FOR="203.0.113.6").status_code == 200


def test_session_writes_count_per_user(rates, client, admin_user, project):
    rates(key="1/hour")
    client.force_login(admin_user)
    assert (
        client.patch(
            "/api/v1/projects/apollo", {"description": "a"}, content_type="application/json"
        ).status_code
        == 200
    )
    assert (
        client.patch(
            "/api/v1/projects/apollo", {"description": "b"}, content_type="application/json"
        ).status_code
        == 429
    )


def test_the_counters_live_in_the_shared_cache(rates, project, write_key):
    """With REDIS_URL the cache is Redis, so every web process sees the same counters."""
    rates(key="1/hour")
    client = client_for(write_key)
    assert write(client).status_code == 200
    assert write(client).status_code == 429
    cache.clear()
    assert write(client).status_code == 200


def test_off_disables_a_limit(rates, project, write_key):
    rates(key="off", ip="off")
    client = client_for(write_key)
    assert all(write(client).status_code == 200 for _ in range(5))


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [
        ("600/min", (600, 60)),
        ("20/s", (20, 1)),
        ("100/10s", (100, 10)),
        ("5/hour", (5, 3600)),
        ("1/day", (1, 86400)),
        ("off", None),
        ("", None),
    ],
)
def test_rates_parse(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["lots", "10", "10/fortnight", "/min", "-1/min", "10/0s"])
def test_bad_rates_are_refused(rate):
    with pytest.raises(ValueError):
        parse_rate(rate)


def test_the_hit_counter_counts_in_the_shared_cache_and_expires(settings):
    import uuid

    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    from apps.core.api.throttles import hit

    key = f"throttle:test:{uuid.uuid4().hex}"
    assert [hit(key, 30) for _ in range(3)] == [1, 2, 3]
    assert cache.get(key) == 3  # the same counter through Django's cache API
    backend = caches["default"]
    if settings.REDIS_URL:
        assert isinstance(backend, RedisCache)
        full = backend.make_and_validate_key(key)
        assert 25 <= backend._cache.get_client(full).ttl(full) <= 30


def test_the_intake_counts_per_key_only(rates, project):
    """Events and spans are the hook path: a valid key is counted, not its address, so many
    agents behind one NAT share nothing but their keys' own limits."""
    rates(key="2/hour", ip="1/hour")
    body = {"events": [{"type": "agent.register", "data": {"name": "a", "external_id": "x"}}]}
    first, second = make_key(project), make_key(project)
    for raw in (first, second):
        client = client_for(raw)
        assert client.post("/api/v1/events", body, format="json").status_code == 200
        assert client.post("/api/v1/events", body, format="json").status_code == 200
    assert client_for(first).post("/api/v1/events", body, format="json").status_code == 429


def test_writes_go_on_when_the_cache_is_down_limited_in_process(rates, project):
    """Redis unreachable: the limiter counts in this process instead of failing every write
    with a 500."""
    from django.test import override_settings

    rates(key="3/hour")
    dead = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                        "LOCATION": "redis://127.0.0.1:1/0",
                        "OPTIONS": {"socket_connect_timeout": 0.2}}}
    client = client_for(make_key(project))
    with override_settings(CACHES=dead):
        codes = [write(client).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


@pytest.fixture
def redis_cache(settings):
    """The default cache on the real Redis (a database of its own), whatever REDIS_URL says."""
    import redis
    from django.core.cache import caches
    from django.test import override_settings

    from tests.support import missing

    url = "redis://127.0.0.1:6379/13"  # not CI's REDIS_URL database: the other run may use it
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        missing("Redis on 127.0.0.1:6379")
    config = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": url}}
    with override_settings(CACHES=config):
        caches["default"].clear()
        yield caches["default"]
        caches["default"].clear()


def test_far_from_the_limit_hits_reach_redis_in_batches(redis_cache, monkeypatch):
    """A counter far below its limit is added to Redis every SYNC_HITS hits (or SYNC_SECONDS),
    not on every request; what reached Redis plus what is pending here is every hit."""
    import uuid

    from apps.core.api import throttles

    monkeypatch.setattr(throttles, "SYNC_SECONDS", 3600.0)
    key = f"throttle:test:{uuid.uuid4().hex}"
    counts = [throttles.counted(key, 60, 100_000) for _ in range(120)]
    assert counts == list(range(1, 121))
    shared = redis_cache.get(key)
    # The first hit goes at once (nothing known yet), then one trip per SYNC_HITS.
    assert shared == 1 + throttles.SYNC_HITS * 2, shared
    assert shared + throttles._batches[key].pending == 120


def test_near_the_limit_every_hit_is_counted_in_redis(redis_cache):
    """Within HEADROOM of the limit the count is Redis's own, so the limit is exact even with
    hits from elsewhere (another process's) in the same counter."""
    import uuid

    from apps.core.api import throttles

    key = f"throttle:test:{uuid.uuid4().hex}"
    limit = throttles.HEADROOM + 20
    assert throttles.counted(key, 60, limit) == 1
    redis_cache.incr(key, 10)  # ten hits from another process
    counts = [throttles.counted(key, 60, limit) for _ in range(limit - 11 + 2)]
    assert counts[-3:] == [limit, limit + 1, limit + 2]
    assert redis_cache.get(key) == limit + 2


def test_a_key_over_its_rate_on_redis_gets_429_at_the_limit(redis_cache, rates, project):
    rates(key="5/hour")
    client = client_for(make_key(project))
    assert [write(client).status_code for _ in range(6)] == [200] * 5 + [429]
