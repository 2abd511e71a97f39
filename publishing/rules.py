"""What each platform accepts for a post: titles, descriptions and privacy levels."""

from dataclasses import dataclass

from accounts.models import User
from core.errors import ServiceError, Unavailable
from integrations import tiktok
from publishing.connections import REQUIRED_SCOPES, platform_connection, platform_token

YOUTUBE_PRIVACY = ("public", "unlisted", "private")
# Our two plain names for TikTok's levels; TikTok's own names are accepted as they are.
TIKTOK_PRIVACY_ALIASES = {"public": "PUBLIC_TO_EVERYONE", "private": "SELF_ONLY"}
YOUTUBE_TITLE_MAX = 100
YOUTUBE_DESCRIPTION_MAX_BYTES = 5000
TIKTOK_TITLE_MAX = 2200
# These checks answer API requests: two tries of TikTok's timeout stay within the web worker's.
REQUEST_ATTEMPTS = 2


class InvalidPublication(ServiceError):
    default_code = "invalid_publication"


@dataclass(frozen=True)
class PostSettings:
    title: str
    description: str
    privacy: str  # the platform's own level
    account_name: str = ""


def post_settings_validate(
    *, owner: User, platform: str, title: str, description: str, privacy: str, default_title: str = ""
) -> PostSettings:
    """Check a post against the platform's rules and the creator's connection to it.

    Raises InvalidPublication (400), AccountNotConnected / MissingScope (409) or Unavailable (503).
    """
    title = (title or default_title).strip()
    description = description or ""
    if platform == "youtube":
        return _youtube(owner, title=title, description=description, privacy=privacy)
    return _tiktok(owner, title=title, description=description, privacy=privacy)


def publish_targets(*, user: User) -> list[dict]:
    """Each platform: whether the user connected it, as whom, what permission is missing, and the
    privacy levels they may post with. Raises Unavailable when Clerk does not answer."""
    targets = []
    for platform in ("youtube", "tiktok"):
        connection = platform_connection(user=user, platform=platform)
        if connection is None:
            required, _ = REQUIRED_SCOPES[platform]
            targets.append(
                {"platform": platform, "connected": False, "account": None, "missing_scopes": [required]}
                | {"privacy_options": []}
            )
            continue
        account, options = connection.label or None, [] if connection.missing_scopes else list(YOUTUBE_PRIVACY)
        if platform == "tiktok":
            account, options = _tiktok_account(connection.token, default=account, usable=not connection.missing_scopes)
        targets.append(
            {
                "platform": platform,
                "connected": True,
                "account": account,
                "missing_scopes": list(connection.missing_scopes),
                "privacy_options": options,
            }
        )
    return targets


def _tiktok_account(token: str, *, default: str | None, usable: bool) -> tuple[str | None, list[str]]:
    """The TikTok user name and allowed privacy levels, when TikTok tells (it is only a listing: best effort)."""
    if not usable:
        return default, []
    try:
        creator = tiktok.query_creator_info(token=token, max_attempts=REQUEST_ATTEMPTS)
    except tiktok.TikTokError:
        return default, []
    return creator.get("creator_username") or default, list(creator.get("privacy_level_options") or [])


def youtube_title_problem(title: str) -> str | None:
    if not title:
        return "YouTube needs a title."
    if len(title) > YOUTUBE_TITLE_MAX:
        return f"YouTube titles are at most {YOUTUBE_TITLE_MAX} characters; this one has {len(title)}."
    if "<" in title or ">" in title:
        return "YouTube titles cannot contain < or >."
    return None


def _youtube(owner: User, *, title: str, description: str, privacy: str) -> PostSettings:
    problem = youtube_title_problem(title)
    if problem:
        raise InvalidPublication(problem, code="invalid_title", details={"field": "title"})
    if len(description.encode()) > YOUTUBE_DESCRIPTION_MAX_BYTES or "<" in description or ">" in description:
        raise InvalidPublication(
            f"YouTube descriptions are at most {YOUTUBE_DESCRIPTION_MAX_BYTES} bytes, without < or >.",
            code="invalid_description",
            details={"field": "description"},
        )
    if privacy not in YOUTUBE_PRIVACY:
        raise _privacy_refused(privacy, allowed=list(YOUTUBE_PRIVACY))
    platform_token(user=owner, platform="youtube")
    return PostSettings(title=title, description=description, privacy=privacy)


def _tiktok(owner: User, *, title: str, description: str, privacy: str) -> PostSettings:
    if len(tiktok_caption(title, description)) > TIKTOK_TITLE_MAX:
        raise InvalidPublication(
            f"TikTok captions (title and description) are at most {TIKTOK_TITLE_MAX} characters.",
            code="invalid_title",
            details={"field": "title"},
        )
    level = TIKTOK_PRIVACY_ALIASES.get(privacy, privacy)
    if level not in tiktok.PRIVACY_LEVELS:
        raise _privacy_refused(privacy, allowed=[*TIKTOK_PRIVACY_ALIASES, *tiktok.PRIVACY_LEVELS])
    token = platform_token(user=owner, platform="tiktok")
    try:
        creator = tiktok.query_creator_info(token=token, max_attempts=REQUEST_ATTEMPTS)
    except tiktok.TikTokError as exc:
        raise Unavailable(f"TikTok did not say which privacy levels this account may use ({exc.code}).") from exc
    allowed = list(creator.get("privacy_level_options") or [])
    if level not in allowed:
        raise _privacy_refused(privacy, allowed=allowed, why="TikTok allows this account only")
    return PostSettings(
        title=title, description=description, privacy=level, account_name=str(creator.get("creator_username") or "")
    )


def tiktok_caption(title: str, description: str) -> str:
    """TikTok has one text, the caption: the title, then the description."""
    return "\n\n".join(part for part in (title.strip(), description.strip()) if part)


def _privacy_refused(privacy: str, *, allowed: list[str], why: str = "Privacy must be one of") -> InvalidPublication:
    return InvalidPublication(
        f"{why}: {', '.join(allowed)} (not {privacy!r}).",
        code="invalid_privacy",
        details={"field": "privacy", "allowed": allowed},
    )
