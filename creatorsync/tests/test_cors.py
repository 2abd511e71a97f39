import pytest

pytestmark = pytest.mark.django_db

FRONTEND = "https://app.creatorsync.example"


@pytest.fixture(autouse=True)
def frontend_origin(settings):
    settings.CORS_ALLOWED_ORIGINS = [FRONTEND]


def test_the_frontend_origin_may_call_the_api(client):
    response = client.options("/api/schema/", HTTP_ORIGIN=FRONTEND, HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert response["Access-Control-Allow-Origin"] == FRONTEND
    assert "authorization" in response["Access-Control-Allow-Headers"]


def test_other_origins_may_not(client):
    response = client.get("/api/schema/", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in response


def test_the_request_id_is_exposed_to_the_frontend(client):
    response = client.get("/api/schema/", HTTP_ORIGIN=FRONTEND)
    assert "X-Request-ID" in response["Access-Control-Expose-Headers"]
