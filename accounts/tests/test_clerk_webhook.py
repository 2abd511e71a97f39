"""Clerk webhooks: verified with real Svix signatures, applied once per svix-id, JSON errors only."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from accounts.models import TwitchAccount, User, WebhookDelivery
from accounts.services import user_get_or_provision
from core.tests.concurrency import run_concurrently
from core.tests.helpers import error_code
from integrations.tests.fakes import (
    CLERK_USER_ID,
    CLERK_WEBHOOK_SECRET,
    CLERK_WEBHOOK_URL,
    clerk_event,
    clerk_user,
    clerk_user_deleted,
    load_fixture,
    post_clerk_webhook,
    signed_webhook,
)

CLERK_ID = CLERK_USER_ID  # the user of fixtures/clerk/
OLDER = 1_700_000_000_000  # user.created.json's updated_at
NEWER = 1_700_000_500_000  # user.updated.json's updated_at
OTHER_SECRET = "whsec_" + base64.b64encode(b"not-the-creatorsync-webhook-key!").decode()


@pytest.fixture(autouse=True)
def _clerk_configured(clerk_settings, mocked_http):
    """Webhooks never call out; any outbound request would fail on the unregistered mock."""
    return clerk_settings


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert error_code(response) == code
    error = response.json()["error"]
    assert error["message"]
    assert error["request_id"] == response["X-Request-ID"]
    return error


def assert_nothing_written() -> None:
    assert not User.objects.exists()
    assert not WebhookDelivery.objects.exists()


# --- Applying user events ------------------------------------------------------------


@pytest.mark.django_db
def test_user_created_creates_the_user_with_their_profile_and_twitch_account(client):
    response = post_clerk_webhook(client, load_fixture("clerk/user.created.json"))

    assert response.status_code == 200
    assert response.json() == {"status": "applied"}
    user = User.objects.get(clerk_id=CLERK_ID)
    assert user.email == "owner@example.com"  # the primary address, not the first one listed
    assert user.first_name == "Olive"
    assert user.last_name == "Owner"
    assert user.clerk_username == "olive"
    assert user.image_url == "https://img.clerk.com/olive.png"
    assert user.clerk_updated_at == OLDER
    assert user.profile_synced_at is not None
    assert user.is_active
    assert user.deleted_at is None
    twitch = TwitchAccount.objects.get(user=user)
    assert twitch.twitch_user_id == "123456"
    assert twitch.login == "ownerstreams"


@pytest.mark.django_db
def test_it_records_each_applied_delivery(client):
    event = clerk_event("user.created", clerk_user(CLERK_ID))

    post_clerk_webhook(client, event, msg_id="msg_created1")

    delivery = WebhookDelivery.objects.get()
    assert delivery.source == WebhookDelivery.Source.CLERK
    assert delivery.delivery_id == "msg_created1"
    assert delivery.event_type == "user.created"
    assert delivery.outcome == WebhookDelivery.Outcome.APPLIED
    assert delivery.payload == event


@pytest.mark.django_db
def test_user_updated_applies_newer_data(client):
    post_clerk_webhook(client, load_fixture("clerk/user.created.json"))

    response = post_clerk_webhook(client, load_fixture("clerk/user.updated.json"))

    assert response.status_code == 200
    assert response.json() == {"status": "applied"}
    user = User.objects.get(clerk_id=CLERK_ID)
    assert user.email == "new@example.com"
    assert user.first_name == "Olivia"
    assert user.clerk_username == "olivia"
    assert user.clerk_updated_at == NEWER
    assert TwitchAccount.objects.get(user=user).twitch_user_id == "654321"
    assert TwitchAccount.objects.get(user=user).login == "renamedstreams"
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_it_ignores_an_update_older_than_the_stored_profile(client):
    post_clerk_webhook(client, clerk_event("user.updated", clerk_user(CLERK_ID, updated_at=NEWER)))

    response = post_clerk_webhook(
        client,
        clerk_event(
            "user.updated",
            clerk_user(CLERK_ID, email="stale@example.com", updated_at=OLDER, first_name="Stale", twitch=None),
        ),
        msg_id="msg_stale",
    )

    assert response.status_code == 200
    assert response.json() == {"status": "stale"}
    user = User.objects.get(clerk_id=CLERK_ID)
    assert user.email == "owner@example.com"
    assert user.first_name == "Olive"
    assert user.clerk_updated_at == NEWER
    assert TwitchAccount.objects.filter(user=user).exists()
    assert WebhookDelivery.objects.get(delivery_id="msg_stale").outcome == WebhookDelivery.Outcome.STALE


@pytest.mark.django_db
def test_an_update_without_a_twitch_account_unlinks_it(client):
    post_clerk_webhook(client, clerk_event("user.created", clerk_user(CLERK_ID, updated_at=OLDER)))
    assert TwitchAccount.objects.exists()

    response = post_clerk_webhook(
        client, clerk_event("user.updated", clerk_user(CLERK_ID, updated_at=NEWER, twitch=None))
    )

    assert response.json() == {"status": "applied"}
    assert not TwitchAccount.objects.exists()
    assert User.objects.filter(clerk_id=CLERK_ID).exists()


@pytest.mark.django_db
def test_a_user_first_seen_on_an_api_request_is_completed_by_user_created(client, settings):
    settings.CLERK_SECRET_KEY = ""  # no Backend API: the row starts without a profile
    provisioned = user_get_or_provision(clerk_id=CLERK_ID)
    assert provisioned.email == ""

    response = post_clerk_webhook(client, clerk_event("user.created", clerk_user(CLERK_ID)))

    assert response.json() == {"status": "applied"}
    user = User.objects.get()
    assert user.pk == provisioned.pk
    assert user.username == CLERK_ID
    assert user.email == "owner@example.com"
    assert user.first_name == "Olive"
    assert TwitchAccount.objects.get().user == user


# --- Exactly once per svix-id -------------------------------------------------------------


@pytest.mark.django_db
def test_it_acknowledges_a_redelivery_as_a_duplicate(client):
    raw, headers = signed_webhook(clerk_event("user.created", clerk_user(CLERK_ID)), msg_id="msg_again")

    statuses = [client.post(CLERK_WEBHOOK_URL, raw, content_type="application/json", **headers) for _ in range(3)]

    assert [response.status_code for response in statuses] == [200, 200, 200]
    assert [response.json()["status"] for response in statuses] == ["applied", "duplicate", "duplicate"]
    assert WebhookDelivery.objects.count() == 1
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_it_does_not_apply_a_redelivered_message_id_twice(client):
    post_clerk_webhook(client, clerk_event("user.created", clerk_user(CLERK_ID, updated_at=OLDER)), msg_id="msg_once")

    # Same svix-id, validly signed, but newer content: it must not be applied.
    response = post_clerk_webhook(
        client,
        clerk_event("user.updated", clerk_user(CLERK_ID, updated_at=NEWER, first_name="Twice", twitch=None)),
        msg_id="msg_once",
    )

    assert response.status_code == 200
    assert response.json() == {"status": "duplicate"}
    user = User.objects.get()
    assert user.first_name == "Olive"
    assert user.clerk_updated_at == OLDER
    assert TwitchAccount.objects.filter(user=user).exists()
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == "user.created"


@pytest.mark.django_db(transaction=True)
def test_concurrent_redeliveries_are_applied_once():
    threads_count = 6
    raw, headers = signed_webhook(clerk_event("user.created", clerk_user(CLERK_ID)), msg_id="msg_racing")

    def post() -> tuple[int, str]:
        response = Client().post(CLERK_WEBHOOK_URL, raw, content_type="application/json", **headers)
        return response.status_code, response.json()["status"]

    results = run_concurrently(post, times=threads_count)

    assert sorted(results) == sorted([(200, "applied")] + [(200, "duplicate")] * (threads_count - 1))
    assert WebhookDelivery.objects.count() == 1
    assert User.objects.filter(clerk_id=CLERK_ID).count() == 1
    assert TwitchAccount.objects.count() == 1


# --- Deletion -------------------------------------------------------------------------


@pytest.mark.django_db
def test_user_deleted_deactivates_the_user_and_keeps_their_data(client):
    post_clerk_webhook(client, load_fixture("clerk/user.created.json"))

    response = post_clerk_webhook(client, load_fixture("clerk/user.deleted.json"))

    assert response.status_code == 200
    assert response.json() == {"status": "applied"}
    user = User.objects.get(clerk_id=CLERK_ID)
    assert not user.is_active
    assert user.deleted_at is not None
    assert user.email == "owner@example.com"
    assert user.first_name == "Olive"
    assert TwitchAccount.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_a_deleted_user_is_refused_on_the_api(client, api_client, bearer):
    post_clerk_webhook(client, clerk_event("user.created", clerk_user(CLERK_ID)))
    user = User.objects.get(clerk_id=CLERK_ID)
    assert api_client.get("/api/me/", **bearer(user)).status_code == 200

    post_clerk_webhook(client, clerk_user_deleted())

    response = api_client.get("/api/me/", **bearer(user))
    assert response.status_code == 401
    assert error_code(response) == "authentication_failed"


@pytest.mark.django_db
def test_an_update_after_deletion_does_not_reactivate_the_user(client):
    post_clerk_webhook(client, clerk_event("user.created", clerk_user(CLERK_ID, updated_at=OLDER)))
    post_clerk_webhook(client, clerk_user_deleted())
    deleted_at = User.objects.get().deleted_at

    response = post_clerk_webhook(
        client, clerk_event("user.updated", clerk_user(CLERK_ID, updated_at=NEWER, first_name="Revived"))
    )

    assert response.status_code == 200
    assert response.json() == {"status": "stale"}
    user = User.objects.get()
    assert not user.is_active
    assert user.deleted_at == deleted_at
    assert user.first_name == "Olive"
    assert user.clerk_updated_at == OLDER


@pytest.mark.django_db
def test_a_user_deleted_before_their_late_user_created_stays_deleted(client):
    post_clerk_webhook(client, clerk_user_deleted())

    post_clerk_webhook(client, clerk_event("user.created", clerk_user(CLERK_ID)))

    assert not User.objects.filter(clerk_id=CLERK_ID, is_active=True).exists()


# --- Other events -------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_records_and_ignores_an_unknown_event_type(client):
    event = clerk_event("session.created", {"id": "sess_2abcdef", "object": "session", "user_id": CLERK_ID})

    response = post_clerk_webhook(client, event, msg_id="msg_session")

    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    delivery = WebhookDelivery.objects.get()
    assert delivery.delivery_id == "msg_session"
    assert delivery.event_type == "session.created"
    assert delivery.outcome == WebhookDelivery.Outcome.IGNORED
    assert not User.objects.exists()


# --- Signatures -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("missing", ["HTTP_SVIX_ID", "HTTP_SVIX_TIMESTAMP", "HTTP_SVIX_SIGNATURE"])
def test_it_rejects_a_delivery_without_svix_headers(client, missing):
    raw, headers = signed_webhook(clerk_event("user.created", clerk_user(CLERK_ID)))
    del headers[missing]

    response = client.post(CLERK_WEBHOOK_URL, raw, content_type="application/json", **headers)

    assert_error(response, 400, "missing_signature")
    assert_nothing_written()


@pytest.mark.django_db
def test_it_rejects_a_delivery_signed_with_another_secret(client):
    response = post_clerk_webhook(client, clerk_event("user.created", clerk_user(CLERK_ID)), secret=OTHER_SECRET)

    assert_error(response, 401, "invalid_signature")
    assert_nothing_written()


@pytest.mark.django_db
def test_it_rejects_a_tampered_body(client):
    raw, headers = signed_webhook(clerk_event("user.created", clerk_user(CLERK_ID)))
    tampered = raw.replace("owner@example.com", "attacker@example.com")
    assert tampered != raw

    response = client.post(CLERK_WEBHOOK_URL, tampered, content_type="application/json", **headers)

    assert_error(response, 401, "invalid_signature")
    assert_nothing_written()


@pytest.mark.django_db
def test_it_rejects_a_delivery_signed_more_than_five_minutes_ago(client):
    ten_minutes_ago = datetime.now(tz=UTC) - timedelta(minutes=10)

    response = post_clerk_webhook(client, clerk_event("user.created", clerk_user(CLERK_ID)), at=ten_minutes_ago)

    assert_error(response, 401, "invalid_signature")
    assert_nothing_written()


@pytest.mark.django_db
def test_it_rejects_a_garbled_signature_header(client):
    raw, headers = signed_webhook(clerk_event("user.created", clerk_user(CLERK_ID)))
    headers["HTTP_SVIX_SIGNATURE"] = "not-a-signature"

    response = client.post(CLERK_WEBHOOK_URL, raw, content_type="application/json", **headers)

    assert_error(response, 401, "invalid_signature")
    assert_nothing_written()


@pytest.mark.django_db
def test_it_answers_503_when_the_webhook_secret_is_not_configured(client, settings):
    settings.CLERK_WEBHOOK_SECRET = ""

    response = post_clerk_webhook(client, clerk_event("user.created", clerk_user(CLERK_ID)))

    assert_error(response, 503, "webhook_not_configured")
    assert_nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "send",
    [
        pytest.param(lambda client: post_clerk_webhook(client, {"type": "user.created"}), id="invalid-payload"),
        pytest.param(
            lambda client: post_clerk_webhook(
                client, clerk_event("user.created", clerk_user(CLERK_ID)), secret=OTHER_SECRET
            ),
            id="invalid-signature",
        ),
        pytest.param(
            lambda client: client.post(CLERK_WEBHOOK_URL, "{}", content_type="application/json"),
            id="missing-signature",
        ),
    ],
)
def test_an_error_never_reveals_the_webhook_secret(client, send):
    response = send(client)

    assert response.status_code >= 400
    body = response.content.decode()
    assert CLERK_WEBHOOK_SECRET not in body
    assert CLERK_WEBHOOK_SECRET.removeprefix("whsec_") not in body


@pytest.mark.django_db
def test_the_not_configured_error_names_the_setting_but_not_a_secret(client, settings):
    settings.CLERK_WEBHOOK_SECRET = ""

    body = post_clerk_webhook(client, clerk_event("user.created", clerk_user(CLERK_ID))).content.decode()

    assert "CLERK_WEBHOOK_SECRET" in body
    assert CLERK_WEBHOOK_SECRET.removeprefix("whsec_") not in body


# --- Malformed but validly signed payloads ---------------------------------------------------


@pytest.mark.django_db
def test_a_signed_body_that_is_not_json_is_a_400(client):
    response = post_clerk_webhook(client, "{not json")

    assert_error(response, 400, "invalid_payload")
    assert_nothing_written()


@pytest.mark.django_db
def test_a_signed_json_array_is_a_400(client):
    response = post_clerk_webhook(client, [clerk_event("user.created", clerk_user(CLERK_ID))])

    assert_error(response, 400, "invalid_payload")
    assert_nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "event",
    [
        pytest.param(clerk_event("user.created", {k: v for k, v in clerk_user().items() if k != "id"}), id="no-id"),
        pytest.param(clerk_event("user.created", clerk_user("org_2notauser")), id="not-a-user-id"),
        pytest.param(clerk_event("user.deleted", {"deleted": True}), id="deleted-without-id"),
        pytest.param(clerk_event("user.created", ["not", "an", "object"]), id="data-not-an-object"),
        pytest.param({"data": clerk_user()}, id="no-type"),
        pytest.param({"type": 42, "data": clerk_user()}, id="type-not-a-string"),
    ],
)
def test_a_signed_event_without_what_we_need_is_a_400(client, event):
    response = post_clerk_webhook(client, event)

    assert_error(response, 400, "invalid_payload")
    assert_nothing_written()


@pytest.mark.django_db
def test_a_signed_delivery_with_an_overlong_message_id_is_a_400(client):
    response = post_clerk_webhook(client, clerk_event("user.created", clerk_user(CLERK_ID)), msg_id="msg_" + "x" * 200)

    assert_error(response, 400, "invalid_payload")
    assert_nothing_written()


@pytest.mark.django_db
def test_a_user_id_with_a_trailing_newline_is_a_400(client):
    response = post_clerk_webhook(client, clerk_event("user.created", clerk_user(CLERK_ID + "\n")))

    assert_error(response, 400, "invalid_payload")
    assert_nothing_written()


@pytest.mark.django_db
def test_a_user_id_longer_than_the_column_is_a_400(client):
    client.raise_request_exception = False

    response = post_clerk_webhook(client, clerk_event("user.created", clerk_user("user_" + "a" * 64)))

    assert_error(response, 400, "invalid_payload")
    assert_nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "dropped"),
    [
        pytest.param({"email_addresses": "owner@example.com"}, "email", id="email-addresses-not-a-list"),
        pytest.param({"email_addresses": ["owner@example.com"]}, "email", id="email-address-not-an-object"),
        pytest.param({"first_name": 5}, "first_name", id="first-name-not-a-string"),
        pytest.param({"image_url": "https://img.clerk.com/" + "a" * 1000}, "image_url", id="image-url-too-long"),
        pytest.param({"last_name": "Own\x00er"}, None, id="nul-in-a-name"),
        pytest.param({"external_accounts": ["oauth_twitch"]}, None, id="external-account-not-an-object"),
        pytest.param({"updated_at": "soon"}, "clerk_updated_at", id="updated-at-not-a-number"),
    ],
)
def test_unusable_fields_are_dropped_not_a_500(client, fields, dropped):
    client.raise_request_exception = False

    response = post_clerk_webhook(client, clerk_event("user.created", clerk_user(CLERK_ID, **fields)))

    assert response.status_code == 200
    user = User.objects.get(clerk_id=CLERK_ID)
    if dropped:
        assert getattr(user, dropped) in ("", None)
    assert "\x00" not in user.last_name


# --- Methods ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_get_on_the_webhook_is_a_json_405(client):
    response = client.get(CLERK_WEBHOOK_URL)

    assert_error(response, 405, "method_not_allowed")
    assert "<html" not in response.content.decode().lower()


@pytest.mark.django_db
def test_a_405_names_the_allowed_method(client):
    response = client.get(CLERK_WEBHOOK_URL)

    assert response.status_code == 405
    assert response.get("Allow") == "POST"
