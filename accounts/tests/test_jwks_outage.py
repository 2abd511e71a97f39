"""A Clerk JWKS outage: requests never queue behind each other's fetches, and fail fast for a short cooldown."""

import json
import threading
import time

import pytest
import requests
from rest_framework.test import APIClient

from core.tests.concurrency import run_concurrently
from core.tests.helpers import error_code
from integrations.clerk import sessions
from integrations.tests.fakes import JWKS_URL, SigningKey, jwks

pytestmark = pytest.mark.django_db(transaction=True)  # concurrent requests use their own connections

ME = "/api/me/"


class FakeJwksEndpoint:
    """Clerk's JWKS endpoint, switchable between up and down, and as slow as told.

    Counts its own calls: `responses` records a call only once the callback returns.
    """

    def __init__(self, key: SigningKey, *, outage=None, delay: float = 0.0):
        self.key = key
        self.outage = outage
        self.delay = delay
        self.calls: list[str] = []
        self.fetching = threading.Event()
        self.released = threading.Event()  # ends a slow answer early, so a test need not wait it out

    def __call__(self, request):
        self.calls.append(threading.current_thread().name)
        self.fetching.set()
        self.released.wait(self.delay)
        if self.outage is not None:
            return self.outage
        return 200, {"Content-Type": "application/json"}, json.dumps(jwks(self.key))


OUTAGES = {
    "connection-error": requests.ConnectionError("Clerk is down"),
    "http-503": (503, {}, "service unavailable"),
}


@pytest.fixture
def jwks_endpoint(clerk_settings, mocked_http, signing_key):
    """A JWKS endpoint that answers until the test makes it fail (`jwks_endpoint.outage = ...`)."""
    endpoint = FakeJwksEndpoint(signing_key)
    mocked_http.add_callback("GET", JWKS_URL, callback=endpoint)
    return endpoint


def get_me(token: str):
    # One client per call: concurrent requests must not share a test client.
    return APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")


def assert_unavailable(response) -> None:
    assert response.status_code == 503
    assert error_code(response) == "authentication_unavailable"


@pytest.mark.parametrize("outage", OUTAGES.values(), ids=OUTAGES.keys())
def test_concurrent_requests_share_one_failed_fetch(jwks_endpoint, signing_key, owner, outage):
    jwks_endpoint.outage = outage
    jwks_endpoint.delay = 0.2  # long enough for the other requests to arrive during the fetch

    responses = run_concurrently(lambda: get_me(signing_key.session_token(sub=owner.clerk_id)), times=10)

    assert len(responses) == 10
    for response in responses:
        assert_unavailable(response)
    assert len(jwks_endpoint.calls) == 1


def test_after_a_failed_fetch_requests_answer_503_without_fetching_until_the_cooldown_ends(
    jwks_endpoint, clerk_settings, signing_key, owner, monkeypatch
):
    clerk_settings.CLERK_JWKS_FAILURE_COOLDOWN_SECONDS = 30
    jwks_endpoint.outage = OUTAGES["connection-error"]
    assert_unavailable(get_me(signing_key.session_token(sub=owner.clerk_id)))
    assert len(jwks_endpoint.calls) == 1

    jwks_endpoint.outage = None  # back up, but the cooldown still holds
    for _ in range(3):
        assert_unavailable(get_me(signing_key.session_token(sub=owner.clerk_id)))
    assert len(jwks_endpoint.calls) == 1

    later = time.monotonic() + 31
    monkeypatch.setattr(sessions, "monotonic", lambda: later)
    assert get_me(signing_key.session_token(sub=owner.clerk_id)).status_code == 200
    assert len(jwks_endpoint.calls) == 2


def test_a_failure_after_the_cooldown_starts_a_new_one(jwks_endpoint, clerk_settings, signing_key, owner, monkeypatch):
    clerk_settings.CLERK_JWKS_FAILURE_COOLDOWN_SECONDS = 30
    jwks_endpoint.outage = OUTAGES["http-503"]
    assert_unavailable(get_me(signing_key.session_token(sub=owner.clerk_id)))

    later = time.monotonic() + 31
    monkeypatch.setattr(sessions, "monotonic", lambda: later)
    for _ in range(3):
        assert_unavailable(get_me(signing_key.session_token(sub=owner.clerk_id)))

    assert len(jwks_endpoint.calls) == 2


def test_concurrent_first_requests_share_one_slow_fetch(jwks_endpoint, signing_key, owner):
    jwks_endpoint.delay = 0.5

    responses = run_concurrently(lambda: get_me(signing_key.session_token(sub=owner.clerk_id)), times=5)

    assert [response.status_code for response in responses] == [200] * 5
    assert len(jwks_endpoint.calls) == 1


def test_a_hanging_refresh_for_an_unknown_kid_does_not_hold_up_cached_keys(
    jwks_endpoint, clerk_settings, signing_key, owner
):
    clerk_settings.CLERK_JWKS_REFRESH_COOLDOWN_SECONDS = 0
    assert get_me(signing_key.session_token(sub=owner.clerk_id)).status_code == 200
    jwks_endpoint.fetching.clear()
    jwks_endpoint.delay = 3  # a JWKS that hangs until our timeout

    unknown_kid = SigningKey().session_token(sub=owner.clerk_id)
    refresh = threading.Thread(target=get_me, args=(unknown_kid,))
    refresh.start()
    try:
        assert jwks_endpoint.fetching.wait(timeout=5), "the unknown kid did not trigger a refresh"
        started = time.monotonic()
        response = get_me(signing_key.session_token(sub=owner.clerk_id))
        elapsed = time.monotonic() - started
    finally:
        jwks_endpoint.released.set()
        refresh.join(timeout=10)

    assert response.status_code == 200
    assert elapsed < 1  # far below the 3 s the refresh hangs: it did not wait for it
    assert len(jwks_endpoint.calls) == 2


def test_healthz_never_waits_on_clerk(jwks_endpoint, client, signing_key, owner):
    jwks_endpoint.outage = OUTAGES["connection-error"]
    jwks_endpoint.delay = 3

    started = time.monotonic()
    response = client.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {signing_key.session_token(sub=owner.clerk_id)}")

    assert response.status_code == 200
    assert time.monotonic() - started < 1
    assert jwks_endpoint.calls == []
