import logging

import pytest
from django.conf import settings

from core.request_context import RequestIdLogFilter

pytestmark = pytest.mark.django_db


def test_it_generates_a_request_id(client):
    response = client.get("/healthz")
    assert len(response["X-Request-ID"]) == 32


def test_it_keeps_the_incoming_request_id(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="frontend-abc.123")
    assert response["X-Request-ID"] == "frontend-abc.123"


def test_it_replaces_an_unsafe_incoming_request_id(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="evil\nlog line injection")
    assert response["X-Request-ID"] != "evil\nlog line injection"
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.urls("core.tests.urls")
def test_log_lines_carry_the_request_id(client):
    handler = _CollectingHandler()
    logger = logging.getLogger("core.middleware")
    logger.addHandler(handler)
    try:
        client.get("/api/test/crash-django/", HTTP_X_REQUEST_ID="trace-42")
    finally:
        logger.removeHandler(handler)
    assert any("[trace-42]" in line and "Unhandled error" in line for line in handler.lines)


def test_errors_carry_the_request_id(client):
    response = client.get("/api/no-such-endpoint/", HTTP_X_REQUEST_ID="trace-43")
    assert response.json()["error"]["request_id"] == "trace-43"


class _CollectingHandler(logging.Handler):
    """Formats records exactly as the project's console handler does."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"]))
        self.addFilter(RequestIdLogFilter())
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))
