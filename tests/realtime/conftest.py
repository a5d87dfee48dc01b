from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_render_cache():
    from apps.realtime.consumers import render_cache

    render_cache.clear()
    yield
    render_cache.clear()
