"""The Clerk Backend API (`CLERK_API_URL`, authenticated with `CLERK_SECRET_KEY`)."""

from collections.abc import Iterator

import requests
from django.conf import settings

from integrations.http import IntegrationError, request_with_retries

_session = requests.Session()


class ClerkAPIError(IntegrationError):
    pass


def is_configured() -> bool:
    return bool(settings.CLERK_SECRET_KEY)


def get_user(clerk_id: str) -> dict:
    return _get(f"/users/{clerk_id}")


def iter_users(*, page_size: int = 100) -> Iterator[list[dict]]:
    """Yield pages of users, oldest first, so users created during the walk land on later pages."""
    offset = 0
    while True:
        page = _get("/users", params={"limit": page_size, "offset": offset, "order_by": "+created_at"})
        if not page:
            return
        yield page
        if len(page) < page_size:
            return
        offset += len(page)


def get_oauth_access_token(clerk_id: str, provider: str) -> dict:
    """The user's current OAuth token for `provider` (e.g. `oauth_twitch`); Clerk refreshes it as needed."""
    tokens = _get(f"/users/{clerk_id}/oauth_access_tokens/{provider}")
    if not tokens:
        raise ClerkAPIError(f"The user has no {provider} connection in Clerk.", code="no_oauth_connection")
    return tokens[0]


def _get(path: str, **kwargs):
    if not is_configured():
        raise ClerkAPIError("CLERK_SECRET_KEY is not set.", code="not_configured")
    response = request_with_retries(
        _session,
        "GET",
        f"{settings.CLERK_API_URL}{path}",
        service="Clerk API",
        timeout=settings.CLERK_API_TIMEOUT_SECONDS,
        headers={"Authorization": f"Bearer {settings.CLERK_SECRET_KEY}"},
        error_class=ClerkAPIError,
        **kwargs,
    )
    if response.status_code >= 400:
        raise ClerkAPIError(
            f"Clerk API {path.split('?')[0]} answered {response.status_code}: {_error_code(response)}",
            status=response.status_code,
            code=_error_code(response),
        )
    try:
        return response.json()
    except ValueError as exc:
        raise ClerkAPIError("The Clerk API answered with something that is not JSON.", code="invalid_response") from exc


def _error_code(response: requests.Response) -> str:
    try:
        return response.json()["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return "unknown"
