"""Creators' YouTube and TikTok connections: Clerk holds them; we read a fresh token on each use.

Tokens are never stored: Clerk refreshes them, and a creator who disconnects in Clerk is
disconnected here at once.
"""

from dataclasses import dataclass

from accounts.models import User
from core.errors import Conflict, Unavailable
from integrations.clerk import backend_api

# Clerk dropped the `oauth_` prefix in 2025; older instances answer to the prefixed ids only.
PROVIDERS = {"youtube": ("google", "oauth_google"), "tiktok": ("tiktok", "oauth_tiktok")}
YOUTUBE_UPLOAD_SCOPE = "https://www.googleapis.com/auth/youtube.upload"
# Each platform's scope a post needs, and the broader scopes that include it.
REQUIRED_SCOPES = {
    "youtube": (
        YOUTUBE_UPLOAD_SCOPE,
        {
            YOUTUBE_UPLOAD_SCOPE,
            "https://www.googleapis.com/auth/youtube",
            "https://www.googleapis.com/auth/youtube.force-ssl",
        },
    ),
    "tiktok": ("video.publish", {"video.publish"}),
}
PLATFORM_NAMES = {"youtube": "Google (YouTube)", "tiktok": "TikTok"}


class AccountNotConnected(Conflict):
    default_code = "account_not_connected"


class MissingScope(Conflict):
    default_code = "missing_scope"


@dataclass(frozen=True)
class Connection:
    token: str
    label: str
    missing_scopes: tuple[str, ...]


def platform_connection(*, user: User, platform: str) -> Connection | None:
    """The user's connection to `platform`, or None when they have not connected it.

    Raises Unavailable when Clerk cannot tell (down, or not configured).
    """
    try:
        token = backend_api.get_oauth_access_token_of_any(user.clerk_id or "", PROVIDERS[platform])
    except backend_api.ClerkAPIError as exc:
        if exc.code == "no_oauth_connection":
            return None
        raise Unavailable(
            f"Could not read your {PLATFORM_NAMES[platform]} connection from Clerk ({exc.code})."
        ) from exc
    required, granting = REQUIRED_SCOPES[platform]
    scopes = set(token.get("scopes") or [])
    return Connection(
        token=str(token.get("token") or ""),
        label=str(token.get("label") or ""),
        missing_scopes=() if scopes & granting else (required,),
    )


def platform_token(*, user: User, platform: str) -> str:
    """A token allowed to post on `platform`, or AccountNotConnected / MissingScope (409) / Unavailable (503)."""
    connection = platform_connection(user=user, platform=platform)
    name = PLATFORM_NAMES[platform]
    if connection is None or not connection.token:
        raise AccountNotConnected(
            f"Connect {name} to CreatorSync first.", details={"platform": platform, "providers": PROVIDERS[platform]}
        )
    if connection.missing_scopes:
        scope = connection.missing_scopes[0]
        raise MissingScope(
            f"Reconnect {name} allowing posting: the connection lacks the {scope} permission.",
            details={"platform": platform, "scope": scope},
        )
    return connection.token
