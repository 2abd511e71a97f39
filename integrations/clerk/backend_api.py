"""The Clerk Backend API (`CLERK_API_URL`, authenticated with `CLERK_SECRET_KEY`)."""

from collections.abc import Iterator, Sequence

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


def get_oauth_access_token_of_any(clerk_id: str, providers: Sequence[str]) -> dict:
    """The user's token for the first of `providers` they connected.

    One platform may answer to two provider ids: Clerk dropped the `oauth_` prefix in 2025
    (`google`), and older instances still use the prefixed one (`oauth_google`).
    """
    for provider in providers:
        try:
            return get_oauth_access_token(clerk_id, provider)
        except ClerkAPIError as exc:
            # An id the instance does not know is refused (404/422); one it knows but the user never
            # connected is an empty list. Either way, try the other spelling.
            if exc.code != "no_oauth_connection" and exc.status not in (400, 404, 422):
                raise
    raise ClerkAPIError(f"The user has no {providers[0]} connection in Clerk.", code="no_oauth_connection")


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
