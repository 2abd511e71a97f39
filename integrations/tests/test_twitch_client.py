"""The Twitch Helix client: app tokens, headers, retries, rate limits and typed errors, against a fake Twitch."""

import time
from datetime import UTC, datetime, timedelta, timezone

import croniter
import pytest
import requests
from django.utils import timezone as django_timezone
from procrastinate.contrib.django import app as queue_app
from responses import matchers

from integrations.models import ServiceToken
from integrations.tests.fakes import (
    BROADCASTER_ID,
    CLIPS_URL,
    DOWNLOADS_URL,
    TWITCH_API_URL,
    TWITCH_CLIENT_ID,
    TWITCH_CLIENT_SECRET,
    TWITCH_TOKEN_URL,
    TWITCH_VALIDATE_URL,
    USERS_URL,
    app_token_answer,
    helix_downloads,
    helix_users,
)
from integrations.twitch import ClipPage, TwitchClient, TwitchError
from integrations.twitch.client import APP_TOKEN_SERVICE

pytestmark = pytest.mark.django_db

SINCE = datetime(2026, 10, 1, tzinfo=UTC)
UNTIL = datetime(2026, 10, 8, tzinfo=UTC)


@pytest.fixture
def twitch_settings(twitch_settings):
    twitch_settings.TWITCH_TIMEOUT_SECONDS = 7.5
    twitch_settings.TWITCH_MAX_RATE_LIMIT_WAIT_SECONDS = 30.0
    return twitch_settings


def token_requests(mock) -> list:
    return [call for call in mock.calls if call.request.url == TWITCH_TOKEN_URL]


def helix_requests(mock) -> list:
    return [call for call in mock.calls if call.request.url.startswith(TWITCH_API_URL)]


def bearer(token: str):
    return matchers.header_matcher({"Authorization": f"Bearer {token}"})


def cache_app_token(token: str, *, expires_in: timedelta = timedelta(days=30)) -> ServiceToken:
    return ServiceToken.objects.create(
        service=APP_TOKEN_SERVICE, access_token=token, expires_at=django_timezone.now() + expires_in
    )


# --- App token ------------------------------------------------------------------------------


def test_it_obtains_the_app_token_with_client_credentials(twitch_settings, mocked_http, twitch_client):
    mocked_http.post(
        TWITCH_TOKEN_URL,
        match=[
            matchers.urlencoded_params_matcher(
                {
                    "client_id": TWITCH_CLIENT_ID,
                    "client_secret": TWITCH_CLIENT_SECRET,
                    "grant_type": "client_credentials",
                }
            )
        ],
        json=app_token_answer(),
    )
    mocked_http.get(USERS_URL, match=[bearer("app-token-1")], json=helix_users())

    assert twitch_client.get_users(logins=["ownerstreams"])[0]["login"] == "ownerstreams"
    assert len(token_requests(mocked_http)) == 1


def test_it_caches_the_app_token_in_the_database_until_shortly_before_it_expires(twitch, twitch_client):
    twitch.get(USERS_URL, json=helix_users())

    twitch_client.get_users(logins=["ownerstreams"])

    token = ServiceToken.objects.get(service=APP_TOKEN_SERVICE)
    assert token.access_token == "app-token-1"
    expected_expiry = django_timezone.now() + timedelta(seconds=5000000) - timedelta(minutes=10)
    assert abs(token.expires_at - expected_expiry) < timedelta(minutes=1)


def test_a_second_call_reuses_the_cached_app_token(twitch, twitch_client):
    twitch.get(USERS_URL, match=[bearer("app-token-1")], json=helix_users())

    twitch_client.get_users(logins=["ownerstreams"])
    twitch_client.get_users(logins=["ownerstreams"])

    assert len(token_requests(twitch)) == 1
    assert len(helix_requests(twitch)) == 2


def test_a_fresh_client_reuses_the_app_token_another_process_cached(twitch, sleeps):
    twitch.get(USERS_URL, match=[bearer("app-token-1")], json=helix_users())
    TwitchClient(sleep=sleeps.append).get_users(logins=["ownerstreams"])

    TwitchClient(sleep=sleeps.append).get_users(logins=["ownerstreams"])

    assert len(token_requests(twitch)) == 1


def test_an_app_token_cached_by_another_process_is_used_without_asking_twitch(twitch, twitch_client):
    cache_app_token("cached-app-token")
    twitch.get(USERS_URL, match=[bearer("cached-app-token")], json=helix_users())

    twitch_client.get_users(logins=["ownerstreams"])

    assert token_requests(twitch) == []


def test_an_expired_cached_app_token_is_replaced(twitch, twitch_client):
    cache_app_token("expired-app-token", expires_in=timedelta(minutes=-1))
    twitch.get(USERS_URL, match=[bearer("app-token-1")], json=helix_users())

    twitch_client.get_users(logins=["ownerstreams"])

    assert len(token_requests(twitch)) == 1
    assert ServiceToken.objects.get(service=APP_TOKEN_SERVICE).access_token == "app-token-1"


def test_refused_app_credentials_raise_unauthorized(twitch_settings, mocked_http, twitch_client):
    mocked_http.post(TWITCH_TOKEN_URL, status=403, json={"status": 403, "message": "invalid twitch_client secret"})

    with pytest.raises(TwitchError) as error:
        twitch_client.get_users(logins=["ownerstreams"])

    assert error.value.code == "unauthorized"
    assert helix_requests(mocked_http) == []
    assert not ServiceToken.objects.exists()


def test_an_unavailable_token_endpoint_is_reported_as_unavailable_not_as_bad_credentials(
    twitch_settings, mocked_http, twitch_client
):
    mocked_http.post(TWITCH_TOKEN_URL, status=503)

    with pytest.raises(TwitchError) as error:
        twitch_client.get_users(logins=["ownerstreams"])

    assert error.value.code == "unavailable"


@pytest.mark.parametrize("missing", ["TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET"])
def test_an_unconfigured_client_raises_not_configured_without_any_http(
    twitch_settings, mocked_http, twitch_client, missing
):
    setattr(twitch_settings, missing, "")

    with pytest.raises(TwitchError) as error:
        twitch_client.get_clips(broadcaster_id=BROADCASTER_ID, started_at=SINCE, ended_at=UNTIL)

    assert error.value.code == "not_configured"
    assert len(mocked_http.calls) == 0


# --- Helix calls ----------------------------------------------------------------------------


def test_helix_calls_carry_the_client_id_and_the_app_token_as_bearer(twitch, twitch_client):
    twitch.get(
        USERS_URL,
        match=[matchers.header_matcher({"Client-Id": TWITCH_CLIENT_ID, "Authorization": "Bearer app-token-1"})],
        json=helix_users(),
    )

    twitch_client.get_users(logins=["ownerstreams"])

    assert len(helix_requests(twitch)) == 1


def test_every_call_passes_a_timeout(twitch, twitch_client):
    twitch.get(USERS_URL, json=helix_users())
    twitch.get(TWITCH_VALIDATE_URL, json={"client_id": TWITCH_CLIENT_ID, "expires_in": 4000000})

    twitch_client.get_users(logins=["ownerstreams"])
    twitch_client.validate_app_token()

    assert len(twitch.calls) == 3  # token, users, validate
    assert [call.request.req_kwargs["timeout"] for call in twitch.calls] == [7.5, 7.5, 7.5]


def test_get_clips_asks_for_one_window_of_a_broadcaster_a_hundred_at_a_time(twitch, twitch_client):
    twitch.get(
        CLIPS_URL,
        match=[
            matchers.query_param_matcher(
                {
                    "broadcaster_id": BROADCASTER_ID,
                    "started_at": "2026-10-01T00:00:00Z",
                    "ended_at": "2026-10-08T00:00:00Z",
                    "first": "100",
                }
            )
        ],
        json={"data": [{"id": "Clip-1"}, {"id": "Clip-2"}], "pagination": {"cursor": "cursor-2"}},
    )

    page = twitch_client.get_clips(broadcaster_id=BROADCASTER_ID, started_at=SINCE, ended_at=UNTIL)

    assert page == ClipPage(clips=[{"id": "Clip-1"}, {"id": "Clip-2"}], cursor="cursor-2")


def test_get_clips_sends_the_cursor_as_after_and_window_bounds_in_utc(twitch, twitch_client):
    paris_summer = timezone(timedelta(hours=2))
    twitch.get(
        CLIPS_URL,
        match=[
            matchers.query_param_matcher(
                {
                    "broadcaster_id": BROADCASTER_ID,
                    "started_at": "2026-09-30T22:00:00Z",
                    "ended_at": "2026-10-08T00:00:00Z",
                    "first": "100",
                    "after": "cursor-2",
                }
            )
        ],
        json={"data": [{"id": "Clip-3"}], "pagination": {}},
    )

    page = twitch_client.get_clips(
        broadcaster_id=BROADCASTER_ID,
        started_at=datetime(2026, 10, 1, tzinfo=paris_summer),
        ended_at=UNTIL,
        after="cursor-2",
    )

    assert page == ClipPage(clips=[{"id": "Clip-3"}], cursor=None)


def test_get_clips_without_data_is_an_empty_last_page(twitch, twitch_client):
    twitch.get(CLIPS_URL, json={"data": [], "pagination": {}})

    assert twitch_client.get_clips(broadcaster_id=BROADCASTER_ID, started_at=SINCE, ended_at=UNTIL) == ClipPage(
        [], None
    )


# --- 401: a new app token, once ----------------------------------------------------------------


def test_a_rejected_app_token_is_replaced_and_the_call_retried_once(twitch, twitch_client):
    twitch.post(TWITCH_TOKEN_URL, json=app_token_answer("app-token-2"))
    twitch.get(USERS_URL, match=[bearer("app-token-1")], status=401, json={"status": 401, "message": "invalid"})
    twitch.get(USERS_URL, match=[bearer("app-token-2")], json=helix_users())

    assert twitch_client.get_users(logins=["ownerstreams"])[0]["id"] == BROADCASTER_ID

    assert len(token_requests(twitch)) == 2
    assert len(helix_requests(twitch)) == 2
    assert ServiceToken.objects.get(service=APP_TOKEN_SERVICE).access_token == "app-token-2"


def test_a_second_401_raises_unauthorized(twitch, twitch_client):
    twitch.post(TWITCH_TOKEN_URL, json=app_token_answer("app-token-2"))
    twitch.get(USERS_URL, status=401, json={"status": 401, "message": "invalid access token"})

    with pytest.raises(TwitchError) as error:
        twitch_client.get_users(logins=["ownerstreams"])

    assert error.value.code == "unauthorized"
    assert error.value.status == 401
    assert "invalid access token" in str(error.value)
    assert len(helix_requests(twitch)) == 2  # retried once, not more


# --- Rate limits, retries and network errors -----------------------------------------------------


def test_a_429_waits_until_the_rate_limit_resets_then_succeeds(twitch, twitch_client, sleeps):
    reset = int(time.time()) + 10
    twitch.get(USERS_URL, status=429, headers={"Ratelimit-Reset": str(reset), "Ratelimit-Remaining": "0"})
    twitch.get(USERS_URL, json=helix_users())

    assert twitch_client.get_users(logins=["ownerstreams"])[0]["id"] == BROADCASTER_ID

    assert len(sleeps) == 1
    assert sleeps[0] == pytest.approx(10, abs=1.5)
    assert len(helix_requests(twitch)) == 2


def test_the_rate_limit_wait_is_bounded_by_the_setting(twitch, twitch_client, sleeps):
    far_reset = int(time.time()) + 3600
    twitch.get(USERS_URL, status=429, headers={"Ratelimit-Reset": str(far_reset)})
    twitch.get(USERS_URL, json=helix_users())

    twitch_client.get_users(logins=["ownerstreams"])

    assert sleeps == [30.0]


def test_a_rate_limit_reset_in_the_past_retries_at_once(twitch, twitch_client, sleeps):
    twitch.get(USERS_URL, status=429, headers={"Ratelimit-Reset": str(int(time.time()) - 60)})
    twitch.get(USERS_URL, json=helix_users())

    twitch_client.get_users(logins=["ownerstreams"])

    assert sleeps == [0.0]


def test_a_persistent_429_raises_rate_limited(twitch, twitch_client, sleeps):
    twitch.get(USERS_URL, status=429, headers={"Ratelimit-Reset": str(int(time.time()) + 2)})

    with pytest.raises(TwitchError) as error:
        twitch_client.get_users(logins=["ownerstreams"])

    assert error.value.code == "rate_limited"
    assert len(helix_requests(twitch)) == 4
    assert len(sleeps) == 3


def test_a_503_is_retried_after_a_short_backoff(twitch, twitch_client, sleeps):
    twitch.get(USERS_URL, status=503)
    twitch.get(USERS_URL, json=helix_users())

    assert twitch_client.get_users(logins=["ownerstreams"])[0]["id"] == BROADCASTER_ID

    assert len(helix_requests(twitch)) == 2
    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= 1


def test_a_persistent_500_raises_unavailable_after_four_attempts(twitch, twitch_client, sleeps):
    twitch.get(USERS_URL, status=500)

    with pytest.raises(TwitchError) as error:
        twitch_client.get_users(logins=["ownerstreams"])

    assert error.value.code == "unavailable"
    assert error.value.status == 500
    assert len(helix_requests(twitch)) == 4
    assert len(sleeps) == 3
    assert sleeps == sorted(sleeps)  # backing off, not hammering


def test_network_errors_raise_unreachable(twitch, twitch_client, sleeps):
    twitch.get(USERS_URL, body=requests.ConnectionError("connection refused"))

    with pytest.raises(TwitchError) as error:
        twitch_client.get_users(logins=["ownerstreams"])

    assert error.value.code == "unreachable"
    assert len(helix_requests(twitch)) == 4
    assert len(sleeps) == 3


def test_a_network_error_then_success_is_retried(twitch, twitch_client, sleeps):
    twitch.get(USERS_URL, body=requests.ConnectionError("connection reset"))
    twitch.get(USERS_URL, json=helix_users())

    assert twitch_client.get_users(logins=["ownerstreams"])[0]["id"] == BROADCASTER_ID
    assert len(sleeps) == 1


@pytest.mark.parametrize(("status", "code"), [(400, "bad_request"), (403, "forbidden"), (404, "not_found")])
def test_client_errors_are_not_retried_and_carry_a_stable_code(twitch, twitch_client, sleeps, status, code):
    twitch.get(USERS_URL, status=status, json={"status": status, "message": "nope"})

    with pytest.raises(TwitchError) as error:
        twitch_client.get_users(logins=["ownerstreams"])

    assert error.value.code == code
    assert len(helix_requests(twitch)) == 1
    assert sleeps == []


# --- Clip downloads: the streamer's user token ----------------------------------------------------


def test_clip_downloads_use_the_user_token_and_never_the_app_token(twitch, twitch_client):
    twitch.get(
        DOWNLOADS_URL,
        match=[
            matchers.header_matcher({"Authorization": "Bearer user-token", "Client-Id": TWITCH_CLIENT_ID}),
            matchers.query_param_matcher(
                {"editor_id": BROADCASTER_ID, "broadcaster_id": BROADCASTER_ID, "clip_id": "Clip-1"}
            ),
        ],
        json=helix_downloads("Clip-1", landscape="https://dl.test/1.mp4"),
    )

    download = twitch_client.get_clip_downloads(
        user_token="user-token", editor_id=BROADCASTER_ID, broadcaster_id=BROADCASTER_ID, clip_id="Clip-1"
    )

    assert download == {
        "clip_id": "Clip-1",
        "landscape_download_url": "https://dl.test/1.mp4",
        "portrait_download_url": None,
    }
    assert token_requests(twitch) == []
    assert not ServiceToken.objects.exists()


def test_a_rejected_user_token_is_not_retried_with_an_app_token(twitch, twitch_client):
    twitch.get(DOWNLOADS_URL, status=401, json={"status": 401, "message": "invalid oauth token"})

    with pytest.raises(TwitchError) as error:
        twitch_client.get_clip_downloads(
            user_token="user-token", editor_id=BROADCASTER_ID, broadcaster_id=BROADCASTER_ID, clip_id="Clip-1"
        )

    assert error.value.code == "unauthorized"
    assert "streamer" in str(error.value)
    assert token_requests(twitch) == []
    assert len(helix_requests(twitch)) == 1


def test_a_clip_without_download_raises_not_found(twitch, twitch_client):
    twitch.get(DOWNLOADS_URL, json={"data": []})

    with pytest.raises(TwitchError) as error:
        twitch_client.get_clip_downloads(
            user_token="user-token", editor_id=BROADCASTER_ID, broadcaster_id=BROADCASTER_ID, clip_id="Clip-1"
        )

    assert error.value.code == "not_found"


# --- Token validation ---------------------------------------------------------------------------


def test_validation_sends_the_app_token_as_oauth_to_the_validate_endpoint(twitch, twitch_client):
    cache_app_token("cached-app-token")
    twitch.get(
        TWITCH_VALIDATE_URL,
        match=[matchers.header_matcher({"Authorization": "OAuth cached-app-token"})],
        json={"client_id": TWITCH_CLIENT_ID, "login": None, "user_id": None, "scopes": [], "expires_in": 4000000},
    )

    assert twitch_client.validate_app_token() == {"renewed": False, "expires_in": 4000000}

    assert token_requests(twitch) == []
    validated_at = ServiceToken.objects.get(service=APP_TOKEN_SERVICE).validated_at
    assert validated_at is not None
    assert django_timezone.now() - validated_at < timedelta(minutes=1)


def test_a_token_rejected_by_validation_is_renewed(twitch, twitch_client):
    cache_app_token("revoked-app-token")
    twitch.get(TWITCH_VALIDATE_URL, status=401, json={"status": 401, "message": "invalid access token"})

    assert twitch_client.validate_app_token() == {"renewed": True}

    assert len(token_requests(twitch)) == 1
    assert ServiceToken.objects.get(service=APP_TOKEN_SERVICE).access_token == "app-token-1"


def test_validation_is_scheduled_every_hour():
    periodic = {task.periodic_id: task for task in queue_app.periodic_registry.periodic_tasks.values()}

    assert "validate_twitch_app_token" in periodic
    task = periodic["validate_twitch_app_token"]
    assert task.task.name == "integrations.tasks.validate_twitch_app_token"
    runs = croniter.croniter(task.cron, datetime(2026, 10, 1, 12, 30, tzinfo=UTC))
    first, second = runs.get_next(datetime), runs.get_next(datetime)
    assert second - first == timedelta(hours=1)


def test_the_validation_task_validates_the_app_token(twitch):
    from integrations.tasks import validate_twitch_app_token

    cache_app_token("cached-app-token")
    twitch.get(
        TWITCH_VALIDATE_URL, match=[matchers.header_matcher({"Authorization": "OAuth cached-app-token"})], json={}
    )

    validate_twitch_app_token(timestamp=int(time.time()))

    assert len(twitch.calls) == 1


def test_the_validation_task_does_nothing_when_twitch_is_not_configured(twitch_settings, mocked_http):
    from integrations.tasks import validate_twitch_app_token

    twitch_settings.TWITCH_CLIENT_ID = ""

    validate_twitch_app_token(timestamp=int(time.time()))

    assert len(mocked_http.calls) == 0
