"""`manage.py sync_clerk_users`: pages through the Clerk Backend API and upserts every user."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from responses import matchers

from accounts.models import TwitchAccount, User
from integrations.tests.fakes import CLERK_API_URL, CLERK_SECRET_KEY, clerk_user

USERS_URL = f"{CLERK_API_URL}/users"
ALICE = clerk_user("user_2alice", email="alice@example.com", twitch=("111", "alicelive"), first_name="Alice")
BOB = clerk_user("user_2bob", email="bob@example.com", twitch=None, first_name="Bob")
CAROL = clerk_user("user_2carol", email="carol@example.com", twitch=("333", "carolplays"), first_name="Carol")


def page(*, limit: int, offset: int) -> list:
    return [matchers.query_param_matcher({"limit": limit, "offset": offset, "order_by": "+created_at"})]


def serve_users(mocked_http, users: list[dict], *, page_size: int) -> None:
    """Register Clerk's answers for every page the command will ask for."""
    for offset in range(0, len(users) + 1, page_size):
        mocked_http.get(USERS_URL, json=users[offset : offset + page_size], match=page(limit=page_size, offset=offset))


def sync(*args: str) -> str:
    out = io.StringIO()
    call_command("sync_clerk_users", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _clerk_configured(clerk_settings):
    return clerk_settings


@pytest.mark.django_db
def test_it_pages_through_every_clerk_user_and_saves_them(mocked_http):
    serve_users(mocked_http, [ALICE, BOB, CAROL], page_size=2)

    output = sync("--page-size", "2")

    assert [call.request.params for call in mocked_http.calls] == [
        {"limit": "2", "offset": "0", "order_by": "+created_at"},
        {"limit": "2", "offset": "2", "order_by": "+created_at"},
    ]
    assert set(User.objects.values_list("clerk_id", "email", "first_name")) == {
        ("user_2alice", "alice@example.com", "Alice"),
        ("user_2bob", "bob@example.com", "Bob"),
        ("user_2carol", "carol@example.com", "Carol"),
    }
    assert set(TwitchAccount.objects.values_list("user__clerk_id", "twitch_user_id", "login")) == {
        ("user_2alice", "111", "alicelive"),
        ("user_2carol", "333", "carolplays"),
    }
    assert "page 1: 2 users seen (2 created)" in output
    assert "page 2: 3 users seen (3 created)" in output
    assert "Done: 3 users (3 created)." in output


@pytest.mark.django_db
def test_it_asks_for_the_next_page_when_the_last_one_was_full(mocked_http):
    serve_users(mocked_http, [ALICE, BOB], page_size=2)

    output = sync("--page-size", "2")

    assert [call.request.params["offset"] for call in mocked_http.calls] == ["0", "2"]
    assert User.objects.count() == 2
    assert "Done: 2 users (2 created)." in output


@pytest.mark.django_db
def test_it_sends_the_secret_key_as_a_bearer_token(mocked_http):
    serve_users(mocked_http, [ALICE], page_size=100)

    sync()

    assert mocked_http.calls[0].request.headers["Authorization"] == f"Bearer {CLERK_SECRET_KEY}"


@pytest.mark.django_db
def test_running_it_twice_changes_nothing_the_second_time(mocked_http):
    serve_users(mocked_http, [ALICE, BOB, CAROL], page_size=2)
    sync("--page-size", "2")
    before = list(
        User.objects.order_by("clerk_id").values_list(
            "pk", "clerk_id", "email", "first_name", "last_name", "clerk_username", "image_url", "clerk_updated_at"
        )
    )
    twitch_before = list(TwitchAccount.objects.order_by("twitch_user_id").values_list("pk", "twitch_user_id", "login"))

    output = sync("--page-size", "2")

    assert "Done: 3 users (3 updated)." in output  # re-applied, not stale: Clerk's timestamps are unchanged
    after = list(
        User.objects.order_by("clerk_id").values_list(
            "pk", "clerk_id", "email", "first_name", "last_name", "clerk_username", "image_url", "clerk_updated_at"
        )
    )
    assert after == before
    assert list(TwitchAccount.objects.order_by("twitch_user_id").values_list("pk", "twitch_user_id", "login")) == (
        twitch_before
    )


@pytest.mark.django_db
def test_it_leaves_alone_a_user_whose_stored_profile_is_newer(mocked_http):
    User.objects.create(
        username="user_2alice", clerk_id="user_2alice", email="newer@example.com", clerk_updated_at=2_000_000_000_000
    )
    serve_users(mocked_http, [ALICE], page_size=100)

    output = sync()

    assert "Done: 1 users (1 stale)." in output
    assert User.objects.get(clerk_id="user_2alice").email == "newer@example.com"


@pytest.mark.django_db
def test_a_dry_run_writes_nothing_but_reports_what_it_would_do(mocked_http):
    existing = User.objects.create(username="user_2alice", clerk_id="user_2alice", email="before@example.com")
    serve_users(mocked_http, [ALICE, BOB, CAROL], page_size=2)

    output = sync("--dry-run", "--page-size", "2")

    assert "page 2: 3 users seen (2 created, 1 updated)" in output
    assert "Dry run, nothing written: 3 users (2 created, 1 updated)." in output
    assert list(User.objects.values_list("pk", flat=True)) == [existing.pk]
    existing.refresh_from_db()
    assert existing.email == "before@example.com"
    assert existing.clerk_updated_at is None
    assert existing.profile_synced_at is None
    assert not TwitchAccount.objects.exists()


@pytest.mark.django_db
def test_it_waits_out_a_rate_limit_and_carries_on(mocked_http):
    # Same URL and query registered twice: responses answers them in order.
    mocked_http.get(USERS_URL, status=429, headers={"Retry-After": "0"}, match=page(limit=100, offset=0))
    mocked_http.get(USERS_URL, json=[ALICE, BOB], match=page(limit=100, offset=0))

    output = sync()

    assert [call.response.status_code for call in mocked_http.calls] == [429, 200]
    assert User.objects.count() == 2
    assert "Done: 2 users (2 created)." in output


@pytest.mark.django_db
def test_a_refusal_stops_it_with_a_clear_message_keeping_earlier_pages(mocked_http):
    mocked_http.get(USERS_URL, json=[ALICE, BOB], match=page(limit=2, offset=0))
    mocked_http.get(
        USERS_URL,
        status=401,
        json={"errors": [{"code": "authentication_invalid", "message": "Invalid secret key"}]},
        match=page(limit=2, offset=2),
    )

    with pytest.raises(CommandError) as raised:
        sync("--page-size", "2")

    message = str(raised.value)
    assert "Clerk API /users answered 401: authentication_invalid" in message
    assert "run the command again" in message
    assert CLERK_SECRET_KEY not in message
    assert len(mocked_http.calls) == 2  # a 401 is not retried
    assert set(User.objects.values_list("clerk_id", flat=True)) == {"user_2alice", "user_2bob"}


@pytest.mark.django_db
def test_a_persistent_server_error_is_retried_then_stops_it(mocked_http):
    mocked_http.get(USERS_URL, status=500, json={"errors": [{"code": "internal"}]}, match=page(limit=100, offset=0))

    with pytest.raises(CommandError, match=r"Clerk API /users answered 500: internal"):
        sync()

    assert len(mocked_http.calls) == 4  # request_with_retries' attempts, with real backoff in between
    assert not User.objects.exists()


@pytest.mark.django_db
def test_an_unreachable_clerk_stops_it_with_a_clear_message(mocked_http):
    # Nothing registered: every attempt fails with a ConnectionError, as when Clerk is unreachable.
    with pytest.raises(CommandError, match="unreachable"):
        sync()


@pytest.mark.django_db
def test_it_refuses_to_run_without_the_secret_key(settings, mocked_http):
    settings.CLERK_SECRET_KEY = ""

    with pytest.raises(CommandError, match="CLERK_SECRET_KEY"):
        sync()

    assert not mocked_http.calls


@pytest.mark.django_db
@pytest.mark.parametrize("page_size", ["0", "501"])
def test_it_refuses_a_page_size_clerk_would_reject(mocked_http, page_size):
    with pytest.raises(CommandError, match="--page-size: must be a whole number from 1 to 500"):
        sync("--page-size", page_size)

    assert not mocked_http.calls
