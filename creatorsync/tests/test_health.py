import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_it_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_when_the_database_does_not(client, tmp_path):
    real_host = connection.settings_dict["HOST"]
    real_port = connection.settings_dict["PORT"]
    connection.close()
    # A socket folder with no server in it: connecting fails like a database outage.
    connection.settings_dict["HOST"] = str(tmp_path)
    connection.settings_dict["PORT"] = "5432"
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict["HOST"] = real_host
        connection.settings_dict["PORT"] = real_port
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_it_is_exempt_from_the_ssl_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/docs/").status_code == 301
