"""The API's documentation: Swagger UI served from the project's own static files (it works offline), and
the README's request examples accepted by the schemas and by the OpenAPI document alike."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema_rs
import pytest
from django.contrib.staticfiles import finders

import evaluation.schemas
import training.schemas.exports
from training import schemas as training_schemas

ROOT = Path(__file__).resolve().parents[2]


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "action") and value]


def test_the_docs_page_loads_nothing_from_another_host(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    parser = _References()
    parser.feed(html)
    assert parser.urls, "the docs page references no script or style at all"
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"the docs page loads {url} from another host"
    # Nothing else that a browser would fetch from elsewhere either (inline config, @import, url()).
    assert not re.search(r"(?:https?:)?//(?!www\.w3\.org)[\w.-]+\.[a-z]{2,}", html), "a host appears in the page"


def test_every_file_the_docs_page_references_is_a_static_file_of_the_project(client):
    parser = _References()
    parser.feed(client.get("/api/v1/docs").content.decode())
    static = [url for url in parser.urls if url.startswith("/static/")]
    assert any(url.endswith("swagger-ui-bundle.js") for url in static)
    for url in static:
        path = finders.find(url.removeprefix("/static/"))
        assert path and Path(path).stat().st_size > 0, f"{url} does not resolve to a static file"


def _readme_examples() -> list[tuple[str, str, dict]]:
    """(method, path, body) for each README request example: a `METHOD /api/v1/...` line, then a JSON block."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"^`(POST|PUT|PATCH) (/api/v1/[^`]+)`\n```json\n(.*?)```", readme, re.MULTILINE | re.DOTALL)
    return [(method, path, json.loads(body)) for method, path, body in found]


EXAMPLES = _readme_examples()


def test_the_readme_documents_the_main_request_bodies():
    documented = {(method, path) for method, path, _ in EXAMPLES}
    assert {("POST", "/api/v1/evaluations"), ("POST", "/api/v1/datasets")} <= documented


def _input_schema(name: str):
    for module in (evaluation.schemas, training_schemas, training.schemas.exports):
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(f"no input schema named {name}")


@pytest.mark.parametrize(("method", "path", "body"), EXAMPLES, ids=[f"{m} {p}" for m, p, _ in EXAMPLES])
def test_each_readme_example_is_valid_for_the_schema_and_the_openapi_document(client, method, path, body):
    openapi = client.get("/api/v1/openapi.json").json()
    operation = openapi["paths"][path.replace("{id}", _path_parameter(openapi, path))][method.lower()]
    reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    # The OpenAPI document (what a client generator reads) accepts the example...
    validator = jsonschema_rs.validator_for({"$ref": reference, "components": openapi["components"]})
    errors = [error.message for error in validator.iter_errors(body)]
    assert not errors, errors
    # ...and so does the schema the server validates with, unknown fields refused.
    _input_schema(reference.rsplit("/", 1)[-1]).model_validate(body)


def _path_parameter(openapi: dict, path: str) -> str:
    """The `{name}` the OpenAPI document uses where the README writes `{id}`."""
    if "{id}" not in path:
        return "{id}"
    prefix = path.split("{id}")[0]
    matches = [key for key in openapi["paths"] if key.startswith(prefix + "{")]
    assert matches, f"no path like {path} in the OpenAPI document"
    return matches[0][len(prefix) :].split("}")[0] + "}"


def test_an_example_with_a_field_the_readme_does_not_document_is_refused():
    body = next(body for method, path, body in EXAMPLES if path == "/api/v1/datasets")
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        training.schemas.exports.DatasetExportIn.model_validate({**body, "min_score": 5})
