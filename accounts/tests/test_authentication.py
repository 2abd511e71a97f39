"""Clerk session tokens: what is accepted, what is refused, and how key fetching behaves."""

import base64
import hashlib
import hmac
import json
import time

import pytest
import requests
from django.contrib.sessions.models import Session
from django.test import Client
from procrastinate.contrib.django.models import ProcrastinateJob

from accounts.models import User
from core.tests.concurrency import run_concurrently
from core.tests.helpers import error_code
from integrations.tests.fakes import CLERK_API_URL, JWKS_URL, SigningKey, clerk_user, jwks

pytestmark = pytest.mark.django_db

ME = "/api/me/"
INVALID_TOKEN = 'Bearer error="invalid_token"'


def get_me(client, token: str):
    return client.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")


def assert_refused(response, token: str | None = None) -> None:
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == INVALID_TOKEN
    assert error_code(response) == "authentication_failed"
    if token:
        assert token not in response.content.decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict, claims: dict, signature: bytes = b"") -> str:
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(signature)}"


def jwks_calls(mock) -> int:
    return sum(1 for call in mock.calls if call.request.url == JWKS_URL)


# --- Accepted --------------------------------------------------------------------------


def test_a_valid_session_token_reaches_me(api_client, clerk, signing_key, owner):
    response = get_me(api_client, signing_key.session_token(sub=owner.clerk_id))
    assert response.status_code == 200
    assert response.json()["id"] == str(owner.pk)


def test_a_token_within_the_leeway_is_accepted(api_client, clerk, signing_key, owner):
    now = int(time.time())
    token = signing_key.session_token(sub=owner.clerk_id, exp=now - 3, iat=now - 63, nbf=now - 63)
    assert get_me(api_client, token).status_code == 200


def test_a_token_from_a_clock_slightly_ahead_is_accepted(api_client, clerk, signing_key, owner):
    now = int(time.time())
    token = signing_key.session_token(sub=owner.clerk_id, iat=now + 3, nbf=now + 3)
    assert get_me(api_client, token).status_code == 200


def test_a_pem_key_verifies_without_any_network(api_client, clerk_settings, mocked_http, signing_key, owner):
    clerk_settings.CLERK_JWT_KEY = signing_key.public_pem
    response = get_me(api_client, signing_key.session_token(sub=owner.clerk_id))
    assert response.status_code == 200
    assert len(mocked_http.calls) == 0


def test_no_outbound_http_once_keys_are_cached(api_client, clerk, signing_key, owner):
    for _ in range(3):
        assert get_me(api_client, signing_key.session_token(sub=owner.clerk_id)).status_code == 200
    assert len(clerk.calls) == 1
    assert clerk.calls[0].request.url == JWKS_URL


def test_the_jwks_fetch_has_a_short_timeout(api_client, clerk, signing_key, owner):
    get_me(api_client, signing_key.session_token(sub=owner.clerk_id))
    assert clerk.calls[0].request.req_kwargs["timeout"] <= 3


def test_bearer_requests_create_no_server_side_session(api_client, clerk, signing_key, owner):
    response = get_me(api_client, signing_key.session_token(sub=owner.clerk_id))
    assert response.status_code == 200
    assert "sessionid" not in response.cookies
    assert Session.objects.count() == 0


def test_a_staff_session_still_works(client, clerk, admin_user):
    client.force_login(admin_user)
    assert client.get(ME).status_code == 200


def test_without_credentials_it_asks_for_a_bearer_token(api_client, clerk):
    response = api_client.get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert error_code(response) == "not_authenticated"


# --- Refused ---------------------------------------------------------------------------


def test_it_refuses_alg_none(api_client, clerk, signing_key, owner):
    claims = jwt_claims(signing_key, owner)
    token = unsigned_token({"alg": "none", "typ": "JWT", "kid": signing_key.kid}, claims)
    assert_refused(get_me(api_client, token), token)


def test_it_refuses_hs256_signed_with_the_public_key(api_client, clerk, signing_key, owner):
    header = {"alg": "HS256", "typ": "JWT", "kid": signing_key.kid}
    claims = jwt_claims(signing_key, owner)
    signing_input = unsigned_token(header, claims).rsplit(".", 1)[0]
    for secret in (signing_key.public_pem.encode(), json.dumps(signing_key.public_jwk).encode()):
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{b64url(signature)}"
        assert_refused(get_me(api_client, token), token)


def test_it_refuses_rs512(api_client, clerk, signing_key, owner):
    import jwt

    token = jwt.encode(
        jwt_claims(signing_key, owner), signing_key.private_key, algorithm="RS512", headers={"kid": signing_key.kid}
    )
    assert_refused(get_me(api_client, token), token)


def test_it_refuses_a_bad_signature(api_client, clerk, signing_key, owner):
    impostor = SigningKey(kid=signing_key.kid)
    token = impostor.session_token(sub=owner.clerk_id)
    assert_refused(get_me(api_client, token), token)


def test_it_refuses_a_tampered_payload(api_client, clerk, signing_key, owner, stranger):
    head, _, signature = signing_key.session_token(sub=owner.clerk_id).split(".")
    forged_body = b64url(json.dumps(jwt_claims(signing_key, stranger)).encode())
    token = f"{head}.{forged_body}.{signature}"
    assert_refused(get_me(api_client, token), token)


def test_an_unknown_kid_is_refused_after_at_most_one_refresh(api_client, clerk, clerk_settings, owner):
    clerk_settings.CLERK_JWKS_REFRESH_COOLDOWN_SECONDS = 0
    stranger_key = SigningKey()
    for _ in range(2):
        token = stranger_key.session_token(sub=owner.clerk_id)
        assert_refused(get_me(api_client, token), token)
    assert jwks_calls(clerk) <= 3  # the first fetch, then one refresh per unknown kid at most


def test_unknown_kids_do_not_hammer_the_jwks_endpoint(api_client, clerk, owner):
    stranger_key = SigningKey()
    for _ in range(5):
        assert_refused(get_me(api_client, stranger_key.session_token(sub=owner.clerk_id)))
    assert jwks_calls(clerk) == 2  # the first fetch and one refresh; the cooldown blocks the rest


def test_a_rotated_key_is_picked_up_after_one_refresh(api_client, clerk, clerk_settings, signing_key, owner):
    clerk_settings.CLERK_JWKS_REFRESH_COOLDOWN_SECONDS = 0
    assert get_me(api_client, signing_key.session_token(sub=owner.clerk_id)).status_code == 200
    rotated = SigningKey()
    clerk.replace("GET", JWKS_URL, json=jwks(signing_key, rotated))
    assert get_me(api_client, rotated.session_token(sub=owner.clerk_id)).status_code == 200
    assert jwks_calls(clerk) == 2
    assert get_me(api_client, rotated.session_token(sub=owner.clerk_id)).status_code == 200
    assert jwks_calls(clerk) == 2


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp": -30}, "expired beyond the leeway"),
        ({"nbf": 30, "iat": 30}, "not valid yet beyond the leeway"),
        ({"iss": "https://clerk.someone-else.test"}, "another instance"),
        ({"azp": "https://evil.example"}, "an origin not allowed"),
        ({"sub": "mch_2machine"}, "a machine token"),
        ({"sub": "user_../../admin"}, "a sub that is not a plain user id"),
        ({"sts": "pending"}, "a pending session"),
    ],
)
def test_it_refuses_bad_claims(api_client, clerk, signing_key, owner, claims, why):
    now = int(time.time())
    for name in ("exp", "nbf", "iat"):
        if name in claims:
            claims[name] = now + claims[name]
    token = signing_key.session_token(**{"sub": owner.clerk_id, **claims})
    assert_refused(get_me(api_client, token), token)


@pytest.mark.parametrize("missing", ["sid", "azp", "exp", "iss", "sub"])
def test_it_refuses_tokens_missing_a_required_claim(api_client, clerk, signing_key, owner, missing):
    token = signing_key.session_token(sub=owner.clerk_id, drop=(missing,))
    assert_refused(get_me(api_client, token), token)


def test_it_refuses_a_jwt_template_token(api_client, clerk, signing_key, owner):
    # Template tokens have no sid and another token category.
    token = signing_key.session_token(sub=owner.clerk_id, drop=("sid",), headers={"cat": "cl_template"})
    assert_refused(get_me(api_client, token), token)


def test_it_refuses_a_token_of_another_category(api_client, clerk, signing_key, owner):
    token = signing_key.session_token(sub=owner.clerk_id, headers={"cat": "cl_m2m"})
    assert_refused(get_me(api_client, token), token)


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer not-a-jwt", "Bearer a.b.c", "Bearer \u00e9\u00e9.\u00e9.\u00e9"],
)
def test_it_refuses_a_malformed_header(api_client, clerk, header):
    response = api_client.get(ME, HTTP_AUTHORIZATION=header)
    assert_refused(response)


def test_a_user_deleted_in_clerk_is_refused(api_client, clerk, signing_key, owner):
    owner.is_active = False
    owner.save()
    token = signing_key.session_token(sub=owner.clerk_id)
    assert_refused(get_me(api_client, token), token)


# --- JWKS outages ----------------------------------------------------------------------


def test_cached_keys_keep_working_when_the_jwks_is_down(api_client, clerk, clerk_settings, signing_key, owner):
    clerk_settings.CLERK_JWKS_CACHE_SECONDS = 0.05
    assert get_me(api_client, signing_key.session_token(sub=owner.clerk_id)).status_code == 200
    clerk.replace("GET", JWKS_URL, body=requests.ConnectionError("down"))
    time.sleep(0.1)  # the cached set has expired: the next request tries to re-fetch and fails
    assert get_me(api_client, signing_key.session_token(sub=owner.clerk_id)).status_code == 200
    assert jwks_calls(clerk) == 2


@pytest.mark.parametrize(
    "outage",
    [
        {"body": requests.ConnectionError("down")},
        {"body": requests.Timeout("slow")},
        {"status": 502, "body": "bad gateway"},
        {"status": 200, "body": "<html>not json</html>"},
        {"status": 200, "json": {"keys": []}},
    ],
)
def test_no_usable_key_is_a_503_not_a_500(api_client, clerk_settings, mocked_http, signing_key, owner, outage):
    mocked_http.get(JWKS_URL, **outage)
    started = time.monotonic()
    response = get_me(api_client, signing_key.session_token(sub=owner.clerk_id))
    assert response.status_code == 503
    assert error_code(response) == "authentication_unavailable"
    assert time.monotonic() - started < 3


def test_an_unknown_kid_during_an_outage_is_a_503(api_client, clerk, clerk_settings, signing_key, owner):
    clerk_settings.CLERK_JWKS_REFRESH_COOLDOWN_SECONDS = 0
    assert get_me(api_client, signing_key.session_token(sub=owner.clerk_id)).status_code == 200
    clerk.replace("GET", JWKS_URL, body=requests.ConnectionError("down"))
    response = get_me(api_client, SigningKey().session_token(sub=owner.clerk_id))
    assert response.status_code == 503


def test_an_unconfigured_clerk_is_a_503(api_client, clerk_settings, mocked_http, signing_key, owner):
    clerk_settings.CLERK_ISSUER = ""
    clerk_settings.CLERK_JWKS_URL = ""
    response = get_me(api_client, signing_key.session_token(sub=owner.clerk_id))
    assert response.status_code == 503


# --- Provisioning ----------------------------------------------------------------------


def test_the_first_request_creates_the_user_with_their_clerk_profile(api_client, clerk, signing_key):
    clerk.get(f"{CLERK_API_URL}/users/user_2newcomer", json=clerk_user("user_2newcomer", email="new@example.com"))
    token = signing_key.session_token(sub="user_2newcomer")
    response = get_me(api_client, token)
    assert response.status_code == 200
    body = response.json()
    assert body["clerk_id"] == "user_2newcomer"
    assert body["email"] == "new@example.com"
    assert body["twitch"] == {"id": "123456", "login": "ownerstreams", "display_name": ""}
    assert body["features"] == {"render-limits": {"enabled": False, "variant": None, "payload": None}}


def test_the_profile_is_fetched_once_per_user(api_client, clerk, signing_key):
    profile = clerk.get(f"{CLERK_API_URL}/users/user_2newcomer", json=clerk_user("user_2newcomer"))
    for _ in range(3):
        assert get_me(api_client, signing_key.session_token(sub="user_2newcomer")).status_code == 200
    assert profile.call_count == 1


def test_a_clerk_api_failure_does_not_block_sign_in_and_is_retried_by_the_queue(
    api_client, clerk, signing_key, run_queued_jobs
):
    url = f"{CLERK_API_URL}/users/user_2newcomer"
    clerk.get(url, status=404, json={"errors": [{"code": "resource_not_found"}]})
    response = get_me(api_client, signing_key.session_token(sub="user_2newcomer"))
    assert response.status_code == 200
    assert response.json()["email"] == ""
    assert ProcrastinateJob.objects.filter(task_name="accounts.tasks.sync_clerk_profile").count() == 1

    clerk.replace("GET", url, json=clerk_user("user_2newcomer", email="later@example.com"))
    run_queued_jobs()
    assert User.objects.get(clerk_id="user_2newcomer").email == "later@example.com"


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_create_exactly_one_user(clerk, signing_key):
    profile = clerk.get(f"{CLERK_API_URL}/users/user_2racer", json=clerk_user("user_2racer"))
    token = signing_key.session_token(sub="user_2racer")
    statuses = run_concurrently(lambda: get_me(Client(), token).status_code, times=6)
    assert statuses == [200] * 6
    assert User.objects.filter(clerk_id="user_2racer").count() == 1
    assert profile.call_count == 1


# --- /api/me/ -------------------------------------------------------------------------


def test_me_shows_each_user_only_themselves(api_client, bearer, owner, stranger):
    assert api_client.get(ME, **bearer(owner)).json()["id"] == str(owner.pk)
    assert api_client.get(ME, **bearer(stranger)).json()["id"] == str(stranger.pk)


def test_me_without_a_twitch_account(api_client, bearer, owner):
    body = api_client.get(ME, **bearer(owner)).json()
    assert body["twitch"] is None
    assert body["features"] == {"render-limits": {"enabled": False, "variant": None, "payload": None}}


def jwt_claims(signing_key: SigningKey, user) -> dict:
    import jwt

    token = signing_key.session_token(sub=user.clerk_id)
    return jwt.decode(token, options={"verify_signature": False})
