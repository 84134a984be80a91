"""The whole API, generated from its OpenAPI schema by schemathesis: no request, however odd,
gets a server error. Requests go through the real WSGI application to the real database,
with an admin token, first operation by operation, then as sequences (the stateful phase:
a resource one call makes is used by the next)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.django_db

# Bounded so the whole module stays well under a minute per database on CI.
EXAMPLES_PER_OPERATION = 6
STATEFUL_EXAMPLES = 15


@pytest.fixture
def admin_headers(client):
    """An admin token, and a few servers and jobs for the requests to find."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from duplistatus.accounts.models import ApiToken

    from .test_v1 import load_corpus

    load_corpus(client)
    headers = {"Authorization": f"Bearer {ApiToken.create('schemathesis')[1]}"}
    # Requests go through the WSGI handler, which closes the database connection around
    # each one; inside the test's transaction that would end it. Django's test client
    # does the same as this, for the same reason.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield headers
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def errors_are_json(ctx, response, case) -> bool | None:
    """An API client can read every error: `{"error": …}`, never Django's HTML page."""
    if response.status_code >= 400:
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), (
            f"{response.status_code} answered as {content_type!r}"
        )
    return None


CHECKS = [not_a_server_error, errors_are_json]


def _schema():
    # pytest-django has set Django up by the time tests are collected.
    from duplistatus.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/openapi.json", application)


schema = _schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_gets_a_server_error(case, admin_headers):
    _aim_at_existing_rows(case)
    case.call_and_validate(headers=admin_headers, checks=CHECKS)


def _aim_at_existing_rows(case) -> None:
    """Half the generated server and job ids become ones that exist, so changes reach real
    rows (a random id is nearly always a 404). An earlier example may have deleted them all
    (DELETE /servers/{id}); then the id stays as generated."""
    from duplistatus.backups.models import BackupJob, Server

    for name, model in (("server_id", Server), ("job_id", BackupJob)):
        value = (case.path_parameters or {}).get(name)
        if isinstance(value, int) and value % 2 == 0:
            existing = model.objects.order_by("pk").values_list("pk", flat=True).first()
            if existing is not None:
                case.path_parameters[name] = existing


def test_no_sequence_of_requests_gets_a_server_error(admin_headers):
    """Links between operations are inferred from the schema (an id one call returns is a
    path parameter of another), so later calls reach rows that earlier ones made."""

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):
            return {"headers": admin_headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )
