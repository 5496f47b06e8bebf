"""The cursor paginator's body form (dlt's ``cursor_body_path``, ``has_more_path``) and ``with_value_at``."""

from __future__ import annotations

import pytest

from airflow_provider_bulk_uploader.engine.pagination import (
    Broken,
    CursorPaginator,
    NextBody,
    NextPage,
    Page,
    PageContext,
    Stop,
    paginator_from,
)
from airflow_provider_bulk_uploader.engine.paths import with_value_at


def ctx(body):
    return PageContext("https://a.test/graphql", Page("https://a.test/graphql", body), 1, 1)


def test_cursor_goes_into_the_body_and_has_more_stops():
    p = paginator_from(
        {
            "type": "cursor",
            "cursor_path": "data.c.pageInfo.endCursor",
            "cursor_body_path": "variables.after",
            "has_more_path": "data.c.pageInfo.hasNextPage",
        }
    )
    assert isinstance(p, CursorPaginator)
    body = {"data": {"c": {"pageInfo": {"endCursor": "abc", "hasNextPage": True}}}}
    assert p.next_step(ctx(body)) == NextBody("variables.after", "abc")
    body["data"]["c"]["pageInfo"]["hasNextPage"] = False
    assert p.next_step(ctx(body)) == Stop("has_more false")
    assert isinstance(p.next_step(ctx({"data": {}})), Broken)  # has_more_path missing: not a silent stop
    assert p.to_dict()["cursor_body_path"] == "variables.after"


def test_without_body_path_the_cursor_stays_a_query_parameter():
    p = CursorPaginator("next")
    assert p.next_step(ctx({"next": "x"})) == NextPage("https://a.test/graphql?cursor=x")


@pytest.mark.parametrize("bad", ["", "a..b", 3])
def test_bad_body_path_is_refused(bad):
    with pytest.raises(ValueError, match="cursor_body_path"):
        paginator_from({"type": "cursor", "cursor_body_path": bad})


def test_with_value_at_copies_and_creates():
    template = {"query": "q", "variables": {"owner": "o"}}
    out = with_value_at(template, "variables.after", "c1")
    assert out == {"query": "q", "variables": {"owner": "o", "after": "c1"}}
    assert template == {"query": "q", "variables": {"owner": "o"}}, "the template is not changed"
    assert with_value_at(None, "a.b", 1) == {"a": {"b": 1}}
    with pytest.raises(ValueError, match="not a JSON object"):
        with_value_at({"query": "q"}, "query.after", 1)
