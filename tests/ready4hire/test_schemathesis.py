"""The API fuzzed against its own OpenAPI document, in-process (schemathesis through WSGI), with a key of each
scope and without one: no server error, and every status an operation answers is documented, with a body
that follows the documented schema."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis comes with the [dev] extra")

from django.core.signals import request_finished, request_started  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import close_old_connections  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from evaluation.models import ApiKey  # noqa: E402

NARROW_CALLERS = [*(scope for scope in ApiKey.Scope.values if scope != ApiKey.Scope.ADMIN), None]


def no_server_error(ctx, response, case) -> None:
    """Like schemathesis' not_a_server_error, except for 503: the documented, retryable "a service this
    needs (the database, the broker, the Ollama server) is unavailable", whose body the other checks verify."""
    assert response.status_code < 500 or response.status_code == 503, (
        f"Server error {response.status_code}: {response.text[:500]}"
    )


CHECKS = [no_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Bounds that keep the whole file near a minute and a half of one CI core: the admin key, which reaches every
# operation's logic, gets the coverage phase (boundary and invalid values of every parameter) and more
# examples; narrower keys and no key mostly meet 401/403, so a few random examples each suffice.
ADMIN_EXAMPLES = 12
NARROW_EXAMPLES = 3
SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
}

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
narrow_schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
narrow_schema.config.phases.coverage.enabled = False


@pytest.fixture
def one_test_transaction():
    """Requests go through the WSGI handler, which closes the database connection between requests, and so
    the test's transaction; Django's own test client stops that the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def caller_headers(scope: str | None) -> dict[str, str]:
    """A key with only `scope`, or no key at all."""
    if scope is None:
        return {}
    from evaluation.services import api_key_create

    _, raw_key = api_key_create(name=f"fuzz-{scope}", scopes=[scope])
    return {"Authorization": f"Bearer {raw_key}"}


@pytest.fixture
def admin_headers(db) -> dict[str, str]:
    return caller_headers(ApiKey.Scope.ADMIN)


@pytest.fixture
def narrow_headers(db, scope) -> dict[str, str]:
    return caller_headers(scope)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=ADMIN_EXAMPLES, **SETTINGS)
def test_the_api_conforms_to_its_schema_with_an_admin_key(case, admin_headers, one_test_transaction, media_root):
    case.call_and_validate(headers=admin_headers, checks=CHECKS)


@pytest.mark.django_db
@pytest.mark.parametrize("scope", NARROW_CALLERS, ids=[scope or "no-key" for scope in NARROW_CALLERS])
@narrow_schema.parametrize()
@settings(max_examples=NARROW_EXAMPLES, **SETTINGS)
def test_the_api_conforms_to_its_schema_with_narrower_keys_and_none(
    case, narrow_headers, one_test_transaction, media_root
):
    case.call_and_validate(headers=narrow_headers, checks=CHECKS)
