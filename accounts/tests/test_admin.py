import pytest
from django.utils import timezone

from accounts.models import WebhookDelivery
from accounts.tests.factories import link_twitch

pytestmark = pytest.mark.django_db


def test_the_user_list_shows_clerk_id_and_twitch_login(staff_client, owner):
    link_twitch(owner, twitch_user_id="123", login="ownerstreams")
    page = staff_client.get("/admin/accounts/user/").content.decode()
    assert owner.clerk_id in page
    assert "ownerstreams" in page


@pytest.mark.parametrize("query", ["ownerstreams", "user_owner", "owner@example.com"])
def test_users_are_searchable_by_twitch_login_clerk_id_and_email(staff_client, owner, stranger, query):
    link_twitch(owner, twitch_user_id="123", login="ownerstreams")
    page = staff_client.get("/admin/accounts/user/", {"q": query}).content.decode()
    assert owner.clerk_id in page
    assert stranger.clerk_id not in page


def test_deleted_users_can_be_filtered(staff_client, owner, stranger):
    owner.deleted_at = timezone.now()
    owner.is_active = False
    owner.save()
    page = staff_client.get("/admin/accounts/user/", {"deleted": "yes"}).content.decode()
    assert owner.clerk_id in page
    assert stranger.clerk_id not in page


def test_clerk_owned_fields_are_read_only_for_clerk_users(staff_client, owner):
    url = f"/admin/accounts/user/{owner.pk}/change/"
    page = staff_client.get(url).content.decode()
    assert 'name="email"' not in page
    assert 'name="clerk_id"' not in page
    assert 'name="is_active"' in page  # staff can still deactivate


def test_staff_users_without_clerk_keep_editable_fields(staff_client, admin_user):
    page = staff_client.get(f"/admin/accounts/user/{admin_user.pk}/change/").content.decode()
    assert 'name="email"' in page


def test_webhook_deliveries_are_viewable_but_not_editable(staff_client):
    delivery = WebhookDelivery.objects.create(
        source="clerk", delivery_id="msg_1", event_type="user.created", outcome="applied", payload={"type": "x"}
    )
    assert "msg_1" in staff_client.get("/admin/accounts/webhookdelivery/").content.decode()
    page = staff_client.get(f"/admin/accounts/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert "user.created" in page
    assert 'name="event_type"' not in page
    assert staff_client.get("/admin/accounts/webhookdelivery/add/").status_code == 403
