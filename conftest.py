"""Fixtures shared by every app's tests."""

import pytest
import responses
from django.db import connection
from procrastinate.contrib.django import app as queue_app
from rest_framework.test import APIClient

from accounts.models import TwitchAccount
from accounts.tests.clerk_fakes import (
    CLERK_API_URL,
    FRONTEND_ORIGIN,
    ISSUER,
    JWKS_URL,
    WEBHOOK_SECRET,
    SigningKey,
    jwks,
)
from clips.tests.factories import BROADCASTER_ID, TWITCH_API_URL, TWITCH_AUTH_URL
from integrations.clerk import sessions


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def owner(django_user_model):
    """The user whose rows a test works with."""
    return django_user_model.objects.create_user(
        username="owner", email="owner@example.com", clerk_id="user_owner000000000000000000"
    )


@pytest.fixture
def stranger(django_user_model):
    """Another user, who must never see or change the owner's rows."""
    return django_user_model.objects.create_user(
        username="stranger", email="stranger@example.com", clerk_id="user_stranger00000000000000"
    )


def _clear_queue() -> None:
    # Queue tables are not Django-managed, so transactional tests' flush leaves them alone.
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE procrastinate_jobs, procrastinate_periodic_defers CASCADE")


def _jobs_due(queues: list[str] | None) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE status = 'todo'"
            " AND (scheduled_at IS NULL OR scheduled_at <= now())"
            " AND (%s::text[] IS NULL OR queue_name = ANY(%s::text[])))",
            [queues, queues],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def run_queued_jobs(transactional_db):
    """Run every queued job to completion in this process, against the real database.

    Tests that use it need `@pytest.mark.django_db(transaction=True)`: the worker
    only sees committed jobs, and sync tasks run on their own connection.
    """

    def run(queues: list[str] | None = None) -> None:
        # As `manage.py procrastinate worker` does: the worker gets its own psycopg connector.
        # Jobs may queue further jobs (dispatch, then render): run rounds until nothing is due.
        for _ in range(20):
            with queue_app.replace_connector(queue_app.connector.get_worker_connector()) as worker_app:
                worker_app.run_worker(wait=False, queues=queues, install_signal_handlers=False, listen_notify=False)
            if not _jobs_due(queues):
                return

    _clear_queue()
    yield run
    _clear_queue()


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey()


@pytest.fixture
def clerk_settings(settings):
    settings.CLERK_ISSUER = ISSUER
    settings.CLERK_JWKS_URL = JWKS_URL
    settings.CLERK_JWT_KEY = ""
    settings.CLERK_AUTHORIZED_PARTIES = [FRONTEND_ORIGIN]
    settings.CLERK_API_URL = CLERK_API_URL
    settings.CLERK_SECRET_KEY = "sk_test_creatorsync"
    settings.CLERK_WEBHOOK_SECRET = WEBHOOK_SECRET
    return settings


@pytest.fixture
def mocked_http():
    """Every outbound HTTP call must be registered here; an unregistered one fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clerk(clerk_settings, mocked_http, signing_key):
    """A fake Clerk: its JWKS serves `signing_key`; the Backend API answers what the test registers."""
    mocked_http.get(JWKS_URL, json=jwks(signing_key))
    return mocked_http


@pytest.fixture
def bearer(clerk, signing_key):
    """`bearer(user)`: request headers carrying a valid Clerk session token for that user."""

    def headers_for(user, **claims) -> dict[str, str]:
        token = signing_key.session_token(sub=user.clerk_id, **claims)
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    return headers_for


@pytest.fixture(autouse=True)
def fresh_token_verifier():
    """Each test starts with an empty key cache, as a new process would."""
    sessions._verifier = None
    yield
    sessions._verifier = None


POSTHOG_HOST = "https://posthog.creatorsync.test"


@pytest.fixture
def posthog_enabled(settings, mocked_http):
    """PostHog configured against a fake host, sending synchronously; `posthog_events()` lists what arrived."""
    import json

    from integrations import posthog

    settings.POSTHOG_PROJECT_API_KEY = "phc_test_project_key"
    settings.POSTHOG_HOST = POSTHOG_HOST
    settings.POSTHOG_SYNC_MODE = True
    mocked_http.post(f"{POSTHOG_HOST}/batch/", json={"status": 1})
    posthog.configure()

    def events() -> list[dict]:
        batches = [json.loads(call.request.body) for call in mocked_http.calls if call.request.url.endswith("/batch/")]
        return [event for batch in batches for event in batch["batch"] if not event["event"].startswith("$")]

    yield events
    settings.POSTHOG_PROJECT_API_KEY = ""
    posthog.configure()


@pytest.fixture
def twitch_settings(settings, tmp_path):
    settings.TWITCH_API_URL = TWITCH_API_URL
    settings.TWITCH_AUTH_URL = TWITCH_AUTH_URL
    settings.TWITCH_CLIENT_ID = "twitch-client-id"
    settings.TWITCH_CLIENT_SECRET = "twitch-client-secret"
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings


@pytest.fixture
def twitch(twitch_settings, mocked_http):
    """A fake Twitch: the app-token endpoint answers; tests register the Helix responses they need."""
    mocked_http.post(f"{TWITCH_AUTH_URL}/token", json={"access_token": "app-token-1", "expires_in": 5000000})
    return mocked_http


@pytest.fixture
def streamer(owner):
    """The owner, with their Twitch account linked through Clerk."""
    TwitchAccount.objects.create(user=owner, twitch_user_id=BROADCASTER_ID, login="ownerstreams")
    return owner
