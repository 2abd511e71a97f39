"""Every error under /api/ has one JSON shape, never an HTML page."""

import pytest

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
    assert response.json()["error"]["code"] == "parse_error"


def test_an_unauthenticated_request_is_a_clear_401_or_403(api_client):
    response = api_client.get("/api/test/protected/")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_wrong_method_is_a_json_405(api_client):
    response = api_client.delete("/api/test/validate/")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_an_unknown_api_url_is_a_json_404(api_client):
    response = api_client.get("/api/does-not-exist/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


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
    assert response.json()["error"]["code"] == "validation_error"
