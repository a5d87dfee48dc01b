"""Every GraphQL document the client sends is valid against Linear's published schema."""

from __future__ import annotations

import pytest
from graphql import parse, validate

from apps.linear import queries
from tests.linear.fake_linear import linear_schema


@pytest.mark.parametrize("name", sorted(queries.DOCUMENTS))
def test_it_is_valid_against_linears_schema(name):
    errors = validate(linear_schema(), parse(queries.DOCUMENTS[name]))
    assert errors == [], [e.message for e in errors]


def test_the_validator_catches_a_wrong_field():
    bad = queries.ISSUES.replace("sortOrder", "sortOrderz")
    assert validate(linear_schema(), parse(bad))


def test_everything_sent_during_a_sync_is_a_known_document(mapping, fake_linear):
    from apps.linear import sync
    from apps.linear.models import LinearConnection, SyncKind

    sync.incremental_sync(
        sync.start_run(SyncKind.INCREMENTAL),
        sync.client_for(sync.start_run(SyncKind.INCREMENTAL)),
        LinearConnection.get().sync_watermark,
    )
    sent = {r["query"] for r in fake_linear.requests}
    assert sent <= set(queries.DOCUMENTS.values())
    assert {queries.WORKSPACE, queries.ISSUES, queries.TEAM_CHANGES} <= sent
