"""The analytics events of the account flows: signing up, deletion and linking Twitch, once per real outcome."""

import pytest
import requests

from accounts.models import User
from core.tests.helpers import event_names
from integrations.tests.fakes import (
    CLERK_API_URL,
    POSTHOG_BATCH_URL,
    clerk_event,
    clerk_user,
    clerk_user_deleted,
    post_clerk_webhook,
)

pytestmark = pytest.mark.django_db

ME = "/api/me/"
NEWCOMER = "user_2newcomer"


@pytest.fixture
def no_backend_api(clerk, clerk_settings):
    """Clerk verifies sessions, but without a secret key nobody fetches profiles."""
    clerk_settings.CLERK_SECRET_KEY = ""
    return clerk


@pytest.fixture
def webhooks(clerk_settings, mocked_http):
    return clerk_settings


def first_request(api_client, signing_key, clerk_id: str = NEWCOMER):
    return api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {signing_key.session_token(sub=clerk_id)}")


def deliver(client, event: dict, *, msg_id: str | None = None) -> str:
    """Deliver a Clerk webhook that must be accepted; return the status it was answered."""
    response = post_clerk_webhook(client, event, msg_id=msg_id)
    assert response.status_code == 200, response.content
    return response.json()["status"]


# --- user signed up -----------------------------------------------------------------------------


def test_a_first_request_announces_the_signup_from_the_first_request(
    api_client, no_backend_api, signing_key, analytics_events, committed
):
    with committed():
        assert first_request(api_client, signing_key).status_code == 200

    assert analytics_events() == [("user signed up", NEWCOMER, {"source": "first_request", "has_twitch": False})]


def test_later_requests_do_not_announce_the_signup_again(
    api_client, no_backend_api, signing_key, analytics_events, committed
):
    with committed():
        for _ in range(3):
            assert first_request(api_client, signing_key).status_code == 200

    assert event_names(analytics_events()) == ["user signed up"]


def test_a_first_request_that_fetches_the_profile_announces_the_twitch_link_and_the_signup(
    api_client, clerk, signing_key, analytics_events, committed
):
    clerk.get(f"{CLERK_API_URL}/users/{NEWCOMER}", json=clerk_user(NEWCOMER, twitch=("123456", "newstreams")))

    with committed():
        assert first_request(api_client, signing_key).status_code == 200

    assert analytics_events() == [
        ("twitch linked", NEWCOMER, {"twitch_user_id": "123456", "twitch_login": "newstreams"}),
        ("user signed up", NEWCOMER, {"source": "first_request", "has_twitch": True}),
    ]


def test_a_user_created_webhook_announces_the_signup_from_the_webhook(client, webhooks, analytics_events, committed):
    with committed():
        deliver(client, clerk_event("user.created", clerk_user(NEWCOMER, twitch=None)))

    assert analytics_events() == [("user signed up", NEWCOMER, {"source": "webhook", "has_twitch": False})]


def test_a_user_created_webhook_with_twitch_also_announces_the_link(client, webhooks, analytics_events, committed):
    with committed():
        deliver(client, clerk_event("user.created", clerk_user(NEWCOMER, twitch=("123456", "newstreams"))))

    assert analytics_events() == [
        ("twitch linked", NEWCOMER, {"twitch_user_id": "123456", "twitch_login": "newstreams"}),
        ("user signed up", NEWCOMER, {"source": "webhook", "has_twitch": True}),
    ]


def test_a_redelivered_user_created_webhook_sends_nothing_more(client, webhooks, analytics_events, committed):
    event = clerk_event("user.created", clerk_user(NEWCOMER))
    with committed():
        assert deliver(client, event, msg_id="msg_created_1") == "applied"
        assert deliver(client, event, msg_id="msg_created_1") == "duplicate"
        assert deliver(client, event, msg_id="msg_created_1") == "duplicate"

    assert event_names(analytics_events()) == ["twitch linked", "user signed up"]


def test_a_user_created_webhook_after_the_first_request_does_not_announce_a_second_signup(
    client, api_client, no_backend_api, signing_key, analytics_events, committed
):
    with committed():
        assert first_request(api_client, signing_key).status_code == 200
        deliver(client, clerk_event("user.created", clerk_user(NEWCOMER, twitch=None)))

    assert analytics_events() == [("user signed up", NEWCOMER, {"source": "first_request", "has_twitch": False})]


def test_a_user_updated_webhook_is_not_a_signup(client, webhooks, analytics_events, committed, owner):
    with committed():
        deliver(client, clerk_event("user.updated", clerk_user(owner.clerk_id, twitch=None)))

    assert analytics_events() == []


# --- user deleted -------------------------------------------------------------------------------


def test_a_user_deleted_webhook_announces_the_deletion(client, webhooks, analytics_events, committed, owner):
    with committed():
        deliver(client, clerk_user_deleted(owner.clerk_id))

    assert analytics_events() == [("user deleted", owner.clerk_id, {})]


def test_a_redelivered_user_deleted_webhook_announces_the_deletion_once(
    client, webhooks, analytics_events, committed, owner
):
    with committed():
        assert deliver(client, clerk_user_deleted(owner.clerk_id), msg_id="msg_deleted_1") == "applied"
        assert deliver(client, clerk_user_deleted(owner.clerk_id), msg_id="msg_deleted_1") == "duplicate"
        # Clerk sending the deletion again as a new message changes nothing either.
        assert deliver(client, clerk_user_deleted(owner.clerk_id), msg_id="msg_deleted_2") == "applied"

    assert analytics_events() == [("user deleted", owner.clerk_id, {})]


# --- twitch linked ------------------------------------------------------------------------------


@pytest.fixture
def member(client, webhooks):
    """A user created by a user.created webhook without Twitch (its events are not part of the test)."""
    deliver(client, clerk_event("user.created", clerk_user(NEWCOMER, twitch=None, updated_at=1)))
    return NEWCOMER


def update(client, *, twitch, updated_at: int, msg_id: str | None = None) -> str:
    return deliver(
        client, clerk_event("user.updated", clerk_user(NEWCOMER, twitch=twitch, updated_at=updated_at)), msg_id=msg_id
    )


def test_linking_twitch_announces_the_link(client, member, analytics_events, committed):
    with committed():
        update(client, twitch=("123456", "newstreams"), updated_at=2)

    assert analytics_events() == [
        ("twitch linked", NEWCOMER, {"twitch_user_id": "123456", "twitch_login": "newstreams"})
    ]


def test_switching_to_another_twitch_account_announces_the_new_link(client, member, analytics_events, committed):
    update(client, twitch=("123456", "newstreams"), updated_at=2)

    with committed():
        update(client, twitch=("654321", "otherchannel"), updated_at=3)

    assert analytics_events() == [
        ("twitch linked", NEWCOMER, {"twitch_user_id": "654321", "twitch_login": "otherchannel"})
    ]


def test_an_update_with_the_same_twitch_account_announces_nothing(client, member, analytics_events, committed):
    update(client, twitch=("123456", "newstreams"), updated_at=2)

    with committed():
        update(client, twitch=("123456", "newstreams"), updated_at=3)
        update(client, twitch=("123456", "renamedstreams"), updated_at=4)  # a renamed login is not a new link

    assert analytics_events() == []


def test_a_redelivered_link_is_announced_once(client, member, analytics_events, committed):
    with committed():
        update(client, twitch=("123456", "newstreams"), updated_at=2, msg_id="msg_link")
        update(client, twitch=("123456", "newstreams"), updated_at=2, msg_id="msg_link")

    assert event_names(analytics_events()) == ["twitch linked"]


def test_relinking_after_an_unlink_announces_the_link_again(client, member, analytics_events, committed):
    update(client, twitch=("123456", "newstreams"), updated_at=2)

    with committed():
        update(client, twitch=None, updated_at=3)
        update(client, twitch=("123456", "newstreams"), updated_at=4)

    assert event_names(analytics_events()) == ["twitch linked"]


# --- PostHog down -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "outage", [{"body": requests.ConnectionError("PostHog is down")}, {"status": 500, "json": {"detail": "down"}}]
)
def test_a_signup_completes_when_posthog_is_down(client, webhooks, analytics_events, committed, mocked_http, outage):
    mocked_http.replace("POST", POSTHOG_BATCH_URL, **outage)

    with committed():
        assert deliver(client, clerk_event("user.created", clerk_user(NEWCOMER))) == "applied"

    assert User.objects.filter(clerk_id=NEWCOMER, deleted_at__isnull=True).exists()
    assert event_names(analytics_events()) == [
        "twitch linked",
        "user signed up",
    ]  # attempted, and the failure swallowed
