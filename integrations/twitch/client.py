import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.utils import timezone

from integrations.http import IntegrationError, request_with_retries
from integrations.models import ServiceToken

logger = logging.getLogger(__name__)

APP_TOKEN_SERVICE = "twitch_app"  # noqa: S105 (a row key, not a secret)
# Renew the app token a little before Twitch says it expires.
APP_TOKEN_EXPIRY_MARGIN = timedelta(minutes=10)
_session = requests.Session()


class TwitchError(IntegrationError):
    """A Helix call failed. `code` is one of: not_configured, unauthorized, forbidden, rate_limited,
    unavailable, unreachable, bad_request, not_found, conflict (an EventSub subscription that already exists)."""


@dataclass(frozen=True)
class ClipPage:
    clips: list[dict]
    cursor: str | None


class TwitchClient:
    def __init__(self, *, sleep: Callable[[float], None] = time.sleep):
        self._sleep = sleep

    # --- Helix endpoints ---------------------------------------------------------------

    def get_clips(
        self, *, broadcaster_id: str, started_at: datetime, ended_at: datetime, after: str | None = None
    ) -> ClipPage:
        params = {
            "broadcaster_id": broadcaster_id,
            "started_at": _rfc3339(started_at),
            "ended_at": _rfc3339(ended_at),
            "first": 100,
        }
        if after:
            params["after"] = after
        body = self._helix("GET", "/clips", params=params)
        return ClipPage(clips=body.get("data") or [], cursor=(body.get("pagination") or {}).get("cursor") or None)

    def get_users(self, *, ids: list[str] = (), logins: list[str] = ()) -> list[dict]:
        params = [("id", user_id) for user_id in ids] + [("login", login) for login in logins]
        return self._helix("GET", "/users", params=params).get("data") or []

    def get_games(self, *, ids: list[str]) -> list[dict]:
        return self._helix("GET", "/games", params=[("id", game_id) for game_id in ids]).get("data") or []

    def get_clip_downloads(self, *, user_token: str, editor_id: str, broadcaster_id: str, clip_id: str) -> dict:
        """Temporary download URLs for one clip: {clip_id, landscape_download_url, portrait_download_url}."""
        params = {"editor_id": editor_id, "broadcaster_id": broadcaster_id, "clip_id": clip_id}
        data = self._helix("GET", "/clips/downloads", params=params, user_token=user_token).get("data") or []
        if not data:
            raise TwitchError("Twitch returned no download for this clip.", code="not_found")
        return data[0]

    # --- EventSub subscriptions (webhook transport, app token) ---------------------------------

    def create_eventsub_subscription(
        self, *, type: str, broadcaster_user_id: str, callback: str, secret: str, version: str = "1"
    ) -> dict:
        """Subscribe `callback` to `type` for one broadcaster; Twitch answers 202 with the subscription
        (status webhook_callback_verification_pending) and then sends the callback its challenge.

        The callback is not checked here (Twitch wants HTTPS on 443 and says so with a 400), so loopback
        fakes and staging hosts work. A subscription that already exists raises TwitchError(code="conflict").
        """
        body = {
            "type": type,
            "version": version,
            "condition": {"broadcaster_user_id": broadcaster_user_id},
            "transport": {"method": "webhook", "callback": callback, "secret": secret},
        }
        response = self._helix_response("POST", "/eventsub/subscriptions", json=body)
        if response.status_code == 409:
            raise TwitchError(
                f"Twitch already has this subscription: {_twitch_message(response)}", status=409, code="conflict"
            )
        _raise_for_status(response)
        data = _json(response).get("data") or []
        if not data:
            raise TwitchError("Twitch created no subscription.", status=response.status_code, code="unavailable")
        return data[0]

    def iter_eventsub_subscriptions(self, *, status: str | None = None, type: str | None = None) -> Iterator[dict]:
        """Every EventSub subscription of our client id, oldest first, page after page.

        Twitch accepts one filter at a time: `status` or `type`, not both.
        """
        if status and type:
            raise ValueError("Twitch filters EventSub subscriptions by status or by type, not both.")
        return self._eventsub_pages({"status": status} if status else {"type": type} if type else {})

    def _eventsub_pages(self, params: dict) -> Iterator[dict]:
        seen_cursors: set[str] = set()
        while True:
            body = self._helix("GET", "/eventsub/subscriptions", params=params)
            yield from body.get("data") or []
            cursor = (body.get("pagination") or {}).get("cursor")
            if not cursor or cursor in seen_cursors:
                return
            seen_cursors.add(cursor)
            params = {**params, "after": cursor}

    def delete_eventsub_subscription(self, *, subscription_id: str) -> None:
        """Delete one subscription (204). One already gone (404) is not an error."""
        response = self._helix_response("DELETE", "/eventsub/subscriptions", params={"id": subscription_id})
        if response.status_code == 404:
            logger.info("Twitch EventSub subscription %s was already gone", subscription_id)
            return
        _raise_for_status(response)

    # --- Videos -------------------------------------------------------------------------------

    def get_archive_videos(self, *, broadcaster_id: str, first: int = 5) -> list[dict]:
        """The broadcaster's latest past-broadcast VODs (type "archive"), newest first."""
        params = {"user_id": broadcaster_id, "type": "archive", "first": first}
        return self._helix("GET", "/videos", params=params).get("data") or []

    def validate_app_token(self) -> dict:
        """Validate the cached app token, as Twitch requires hourly; a rejected token is replaced."""
        token = self._app_token()
        response = self._send(
            "GET", f"{settings.TWITCH_AUTH_URL}/validate", headers={"Authorization": f"OAuth {token}"}
        )
        if response.status_code == 401:
            logger.info("Twitch app token no longer valid; fetching a new one")
            self._app_token(force_new=True)
            return {"renewed": True}
        _raise_for_status(response)
        ServiceToken.objects.filter(service=APP_TOKEN_SERVICE).update(validated_at=timezone.now())
        return {"renewed": False, "expires_in": response.json().get("expires_in")}

    # --- plumbing ------------------------------------------------------------------------

    def _helix(self, method: str, path: str, *, params, user_token: str | None = None) -> dict:
        response = self._helix_response(method, path, params=params, user_token=user_token)
        _raise_for_status(response, user_token=user_token is not None)
        return _json(response)

    def _helix_response(
        self, method: str, path: str, *, params=None, json: dict | None = None, user_token: str | None = None
    ) -> requests.Response:
        """The Helix answer, whatever its status, after one new app token on a 401."""
        url = f"{settings.TWITCH_API_URL}{path}"
        extra = {"json": json} if json is not None else {}
        token = user_token or self._app_token()
        response = self._send(method, url, params=params, headers=self._headers(token), **extra)
        if response.status_code == 401 and user_token is None:
            # App tokens are not refreshed: Twitch expects a new one after a 401.
            token = self._app_token(force_new=True)
            response = self._send(method, url, params=params, headers=self._headers(token), **extra)
        return response

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        response = request_with_retries(
            _session,
            method,
            url,
            service="Twitch",
            timeout=settings.TWITCH_TIMEOUT_SECONDS,
            max_wait_seconds=settings.TWITCH_MAX_RATE_LIMIT_WAIT_SECONDS,
            wait_for_rate_limit=_seconds_until_reset,
            sleep=self._sleep,
            error_class=TwitchError,
            **kwargs,
        )
        remaining = response.headers.get("Ratelimit-Remaining")
        if remaining is not None and remaining.isdigit() and int(remaining) < 10:
            logger.info("Twitch rate limit nearly spent: %s points left", remaining)
        return response

    @staticmethod
    def _headers(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Client-Id": settings.TWITCH_CLIENT_ID}

    def _app_token(self, *, force_new: bool = False) -> str:
        if not (settings.TWITCH_CLIENT_ID and settings.TWITCH_CLIENT_SECRET):
            raise TwitchError("TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET are not set.", code="not_configured")
        if not force_new:
            cached = ServiceToken.objects.filter(service=APP_TOKEN_SERVICE, expires_at__gt=timezone.now()).first()
            if cached:
                return cached.access_token
        response = self._send(
            "POST",
            f"{settings.TWITCH_AUTH_URL}/token",
            data={
                "client_id": settings.TWITCH_CLIENT_ID,
                "client_secret": settings.TWITCH_CLIENT_SECRET,
                "grant_type": "client_credentials",
            },
        )
        if response.status_code == 429 or response.status_code >= 500:
            _raise_for_status(response)  # an outage or a rate limit, not bad credentials
        if response.status_code != 200:
            raise TwitchError(
                f"Twitch refused our app credentials (HTTP {response.status_code}).",
                status=response.status_code,
                code="unauthorized",
            )
        body = response.json()
        expires_at = timezone.now() + timedelta(seconds=int(body.get("expires_in", 3600))) - APP_TOKEN_EXPIRY_MARGIN
        ServiceToken.objects.update_or_create(
            service=APP_TOKEN_SERVICE,
            defaults={"access_token": body["access_token"], "expires_at": expires_at, "validated_at": timezone.now()},
        )
        return body["access_token"]


def _seconds_until_reset(response: requests.Response) -> float | None:
    reset = response.headers.get("Ratelimit-Reset")
    if reset is None or not reset.isdigit():
        return None
    return int(reset) - time.time() + 0.5


def _raise_for_status(response: requests.Response, *, user_token: bool = False) -> None:
    status = response.status_code
    if status < 400:
        return
    message = _twitch_message(response)
    if status == 401:
        who = "The streamer's Twitch authorization" if user_token else "Our Twitch app token"
        raise TwitchError(f"{who} was rejected: {message}", status=status, code="unauthorized")
    if status == 403:
        raise TwitchError(f"Twitch denied access: {message}", status=status, code="forbidden")
    if status == 404:
        raise TwitchError(f"Not found on Twitch: {message}", status=status, code="not_found")
    if status == 429:
        raise TwitchError("Twitch rate limit still exhausted after waiting.", status=status, code="rate_limited")
    if status >= 500:
        raise TwitchError(f"Twitch is unavailable (HTTP {status}).", status=status, code="unavailable")
    raise TwitchError(f"Twitch rejected the request: {message}", status=status, code="bad_request")


def _json(response: requests.Response) -> dict:
    try:
        return response.json()
    except ValueError as exc:
        raise TwitchError("Twitch answered with something that is not JSON.", code="unavailable") from exc


def _twitch_message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message") or response.reason)
    except ValueError:
        return response.reason or f"HTTP {response.status_code}"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
