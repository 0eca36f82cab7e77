"""The local gateway picks routes as API Gateway does: a route naming the method wins over
``ANY`` on the same path, whatever their order in the template, so the webhook's POST keeps
its own throttling and the ``ANY`` routes get only the other methods."""

from __future__ import annotations

import pytest

from funnel_local.gateway import RouteTable
from funnel_local.template import HttpRoute


def route(method: str, path: str = "/v1/health") -> HttpRoute:
    return HttpRoute(method, path, "Fn", "Api", 30.0, None)


@pytest.mark.parametrize("order", ["any-first", "any-last"])
def test_a_named_method_wins_over_any(order):
    routes = [route("ANY"), route("GET")] if order == "any-first" else [route("GET"), route("ANY")]
    table = RouteTable(routes)
    assert table.match("GET", "/v1/health")[0].method == "GET"
    assert table.match("TRACE", "/v1/health")[0].method == "ANY"
    assert table.match("TRACE", "/v1/nowhere") is None
