"""Every error under /api/ has one JSON shape, never an HTML page."""

import pytest

from core.tests.helpers import error_code

pytestmark = [pytest.mark.django_db, pytest.mark.urls("core.tests.urls")]


def test_validation_errors_list_each_field(api_client):
    response = api_client.post("/api/test/validate/", {"title": "far too long a title", "count": 0}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"] == "The request has invalid fields."
    assert set(error["details"]) == {"title", "count"}
    assert error["request_id"] == response["X-Request-ID"]


def test_malformed_json_is_a_400(api_client):
    response = api_client.post("/api/test/validate/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_code(response) == "parse_error"


def test_an_unauthenticated_request_is_a_clear_401_or_403(api_client):
    response = api_client.get("/api/test/protected/")
    assert response.status_code in (401, 403)
    assert error_code(response) == "not_authenticated"


def test_a_wrong_method_is_a_json_405(api_client):
    response = api_client.delete("/api/test/validate/")
    assert response.status_code == 405
    assert error_code(response) == "method_not_allowed"


def test_an_unknown_api_url_is_a_json_404(api_client):
    response = api_client.get("/api/does-not-exist/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert error_code(response) == "not_found"


@pytest.mark.parametrize("path", ["/api/test/crash/", "/api/test/crash-django/"])
def test_a_bug_is_a_json_500_without_internals(api_client, path):
    api_client.raise_request_exception = False
    response = api_client.get(path)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "server_error"
    assert "a bug" not in response.content.decode()


@pytest.mark.parametrize("debug", [True, False])
def test_no_html_error_pages_under_api_even_in_debug(api_client, settings, debug):
    settings.DEBUG = debug
    response = api_client.get("/api/does-not-exist/")
    assert response["Content-Type"] == "application/json"


def test_pages_outside_the_api_keep_html_errors(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_a_value_the_database_refuses_is_a_400_not_a_500(api_client):
    response = api_client.get("/api/test/lookup/", {"name": "nul\x00byte"})
    assert response.status_code == 400
    assert error_code(response) == "validation_error"


# --- A database outage is a 503 to retry, never a 500 ---------------------------------------------

DATABASE_DOWN_MESSAGE = "The database is not answering; try again shortly."


def assert_database_unavailable(response) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "error": {
            "code": "service_unavailable",
            "message": DATABASE_DOWN_MESSAGE,
            "request_id": response["X-Request-ID"],
        }
    }


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/api/test/database-down/connect-timeout/", id="drf-operational-error"),
        pytest.param("/api/test/database-down/closed/", id="drf-interface-error"),
        pytest.param("/api/test/database-down-django/connect-timeout/", id="plain-view-operational-error"),
        pytest.param("/api/test/database-down-django/closed/", id="plain-view-interface-error"),
    ],
)
def test_a_database_outage_is_a_503_to_retry(api_client, caplog, path):
    api_client.raise_request_exception = False
    response = api_client.get(path)
    assert_database_unavailable(response)
    # Logged by kind, without psycopg's message: it names the server.
    assert "The database is not answering (" in caplog.text
    assert "db.internal" not in caplog.text + response.content.decode()


def test_a_statement_cut_off_by_its_timeout_is_a_503(api_client):
    assert_database_unavailable(api_client.get("/api/test/slow-query/"))


def test_a_database_outage_in_a_middleware_is_a_503_under_the_api_only(api_client, settings):
    # Django turns a middleware's exception into a 500 page before JsonErrorsMiddleware sees it.
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "core.tests.urls.DatabaseDownMiddleware"]
    api_client.raise_request_exception = False
    assert_database_unavailable(api_client.get("/api/test/validate/"))
    # Pages outside the API keep Django's own error page.
    page = api_client.get("/no-such-page/")
    assert page.status_code == 500
    assert not page["Content-Type"].startswith("application/json")
