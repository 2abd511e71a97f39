import pytest

from accounts.services import local_superuser_ensure

pytestmark = pytest.mark.django_db


def test_the_first_run_creates_a_superuser_with_a_random_password(client, django_user_model):
    first_password = local_superuser_ensure()
    assert first_password
    assert len(first_password) >= 16
    assert client.login(username="admin", password=first_password)
    assert local_superuser_ensure() is None  # shown once, never reset behind the operator's back


def test_two_fresh_installs_get_different_passwords(django_user_model):
    first = local_superuser_ensure()
    django_user_model.objects.all().delete()
    assert local_superuser_ensure() != first


def test_the_admin_is_branded_and_a_superuser_can_sign_in(client, admin_user):
    login_page = client.get("/admin/login/")
    assert "CreatorSync admin" in login_page.content.decode()
    client.force_login(admin_user)
    index = client.get("/admin/")
    assert index.status_code == 200
    assert "CreatorSync admin" in index.content.decode()
    assert client.get("/admin/accounts/user/").status_code == 200


@pytest.mark.urls("core.tests.urls")
def test_a_staff_session_can_use_the_browsable_api(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/api/test/protected/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "admin" in response.content.decode()


def test_the_api_docs_and_schema_are_served(client):
    assert client.get("/api/docs/").status_code == 200
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"CreatorSync API" in schema.content
