"""/openapi.json describes exactly the app's routes (paths and methods)."""

from __future__ import annotations

import re

import pytest

from registry.app import create_app
from registry.openapi import openapi_document
from tests.registry.conftest import Harness

pytestmark = pytest.mark.parametrize("database_env", ["sqlite"], indirect=True)


def app_routes(registry: Harness) -> set[tuple[str, str]]:
    app = create_app(registry.runtime)
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        methods = set(rule.methods or ()) - {"OPTIONS"}
        if "GET" in methods:
            methods.discard("HEAD")  # added automatically by Werkzeug for every GET rule
        routes.update((path, method.lower()) for method in methods)
    return routes


def documented_routes() -> set[tuple[str, str]]:
    document = openapi_document()
    return {(path, method) for path, item in document["paths"].items() for method in item}


async def test_every_route_is_documented_and_nothing_else(registry: Harness) -> None:
    routes = app_routes(registry)
    documented = documented_routes()
    explicit_heads = {("/health", "head")}  # documented on purpose although it comes with GET
    assert documented - explicit_heads == routes


async def test_served_document_is_valid_openapi(registry: Harness) -> None:
    response = await registry.client.get("/openapi.json")
    document = await response.get_json()
    assert document["openapi"].startswith("3.")
    try:
        from openapi_spec_validator import validate
    except ImportError:  # shipped with schemathesis; fall back to a structural check
        assert all(path.startswith("/") for path in document["paths"])
    else:
        validate(document)
    for path, item in document["paths"].items():
        for parameter in re.findall(r"{([a-z_]+)}", path):
            for operation in item.values():
                names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
                assert parameter in names, f"{path} does not declare its path parameter {parameter}"
