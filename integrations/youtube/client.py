"""YouTube Data API v3 on plain `requests`: resumable video uploads that survive a process restart.

Not google-api-python-client: its HTTP goes through httplib2 (which `responses` cannot intercept) and
its resumable state lives only in memory. Here the caller stores the session URI that
`create_upload_session` returns before sending any byte, and after a crash asks YouTube how much it
holds (`query_upload`) and continues from there (`upload_from`).
"""

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from django.conf import settings

from integrations.http import IntegrationError, request_with_retries, retry_after_seconds

logger = logging.getLogger(__name__)

_session = requests.Session()

# Every chunk but the last must be a multiple of this (YouTube's rule).
UPLOAD_GRANULARITY = 256 * 1024
GAMING_CATEGORY_ID = "20"
PRIVACY_STATUSES = frozenset({"public", "private", "unlisted"})
# The upload protocol's "send more" answer (Google calls it Resume Incomplete); it is no redirect.
RESUME_INCOMPLETE = 308
FINISHED_STATUSES = frozenset({200, 201})
# On the session URI, these mean the session is gone (they expire after about a week): start anew.
SESSION_GONE_STATUSES = frozenset({404, 410})
UNAUTHORIZED_REASONS = frozenset({"authError", "insufficientPermissions", "forbidden"})
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
# request_with_retries only retries 429; Google also signals rate limits as 403 with these reasons.
RATE_LIMIT_ATTEMPTS = 4
MAX_WAIT_SECONDS = 30.0
_RANGE = re.compile(r"bytes=0-(\d+)")


class YouTubeError(IntegrationError):
    """A YouTube call failed. `code` is one of: unauthorized (401, or 403 authError/insufficientPermissions/
    forbidden), quota_exceeded (403 quotaExceeded: resets at midnight Pacific time), upload_limit_exceeded
    (the channel's own cap: retry after about 24 hours), rate_limited (429 or 403 rateLimitExceeded/
    userRateLimitExceeded after retries), bad_request (any other 4xx, e.g. invalidTitle), session_expired
    (404/410 on the session URI: start a new session), unavailable (5xx after retries), unreachable (network
    after retries) or invalid_response. `reason` is YouTube's errors[0].reason, or ''."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, reason: str = ""):
        super().__init__(message, status=status, code=code)
        self.reason = reason


@dataclass(frozen=True)
class UploadState:
    received: int  # bytes the session holds (0 when the 308 carries no Range)
    video: dict | None  # the video resource when the upload had finished (200/201)


def video_metadata(*, title: str, description: str, privacy: str, publish_at: datetime | None) -> dict:
    """The videos.insert body (parts snippet and status) for a Gaming video, not made for kids.

    A scheduled video (`publish_at`) must be private until then: YouTube makes it public at that time.
    """
    if privacy not in PRIVACY_STATUSES:
        raise ValueError(f"privacy must be one of {sorted(PRIVACY_STATUSES)}, not {privacy!r}")
    status: dict = {"privacyStatus": privacy, "selfDeclaredMadeForKids": False}
    if publish_at is not None:
        if publish_at.tzinfo is None:
            # A naive time would be read in the server's zone and publish at the wrong hour.
            raise ValueError("publish_at must be timezone-aware")
        status["privacyStatus"] = "private"
        status["publishAt"] = publish_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "snippet": {"title": title, "description": description, "categoryId": GAMING_CATEGORY_ID},
        "status": status,
    }


def create_upload_session(*, token: str, size: int, metadata: dict, sleep: Callable[[float], None] = time.sleep) -> str:
    """Open a resumable upload session for a `size`-byte MP4; returns the session URI (store it before
    sending bytes). Retrying a failed POST is safe: a session that never gets bytes creates no video."""
    response = _send(
        "POST",
        f"{settings.YOUTUBE_API_URL}/upload/youtube/v3/videos",
        sleep=sleep,
        params={"uploadType": "resumable", "part": "snippet,status"},
        data=json.dumps(metadata, ensure_ascii=False).encode("utf-8"),
        headers={
            **_auth(token),
            "Content-Type": "application/json; charset=UTF-8",
            "X-Upload-Content-Length": str(size),
            "X-Upload-Content-Type": "video/mp4",
        },
    )
    if not 200 <= response.status_code < 300:
        raise _error_for(response)
    location = response.headers.get("Location")
    if not location:
        raise YouTubeError(
            "YouTube opened no upload session (no Location header).",
            status=response.status_code,
            code="invalid_response",
        )
    return location


def query_upload(
    *, token: str, session_url: str, size: int, sleep: Callable[[float], None] = time.sleep
) -> UploadState:
    """Ask the session how many bytes it holds, or for the video if the upload had finished.

    Safe to call at any time (it sends no bytes), so it is retried on 5xx and network errors.
    """
    response = _send(
        "PUT",
        session_url,
        sleep=sleep,
        data=b"",
        headers={**_auth(token), "Content-Range": f"bytes */{size}"},
    )
    if response.status_code in FINISHED_STATUSES:
        return UploadState(received=size, video=_video(response))
    if response.status_code == RESUME_INCOMPLETE:
        return UploadState(received=_received(response, size), video=None)
    raise _error_for(response, on_session=True)


def _ignore_progress(received: int) -> None:
    pass


def upload_from(
    *,
    token: str,
    session_url: str,
    path: Path,
    size: int,
    start: int,
    on_progress: Callable[[int], None] = _ignore_progress,
    max_interruptions: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Send `path` from byte `start` in chunks of YOUTUBE_UPLOAD_CHUNK_BYTES; returns the video resource.

    `on_progress(received)` gets the byte count the server says it holds after each 308 (and after
    each status query). A chunk that fails on the network, times out or answers 5xx/429 is not
    resent blindly: the bytes may have arrived (the final chunk may even have created the video), so
    the session is queried and the upload continues from what it holds, at most `max_interruptions`
    times in a row. A 4xx raises its typed error.
    """
    if not 0 <= start <= size:
        raise ValueError(f"start {start} is outside the file's {size} bytes")
    if path.stat().st_size != size:
        # The session was opened for `size` bytes; another file would be rejected at the end.
        raise ValueError(f"{path.name} holds {path.stat().st_size} bytes, not the session's {size}")
    chunk_bytes = settings.YOUTUBE_UPLOAD_CHUNK_BYTES
    position = start
    interruptions = 0
    # Asked to start at the end: the session knows whether it finished.
    ask_session = start >= size
    with path.open("rb") as source:
        while True:
            if ask_session:
                state = query_upload(token=token, session_url=session_url, size=size, sleep=sleep)
                if state.video is not None:
                    return state.video
                if state.received >= size:
                    raise YouTubeError("YouTube holds every byte but made no video.", code="invalid_response")
                position, ask_session = state.received, False
                on_progress(position)
            source.seek(position)
            data = source.read(min(chunk_bytes, size - position))
            last = position + len(data) - 1
            failure, wait, stalled = None, None, False
            try:
                response = _session.put(
                    session_url,
                    data=data,
                    headers={
                        **_auth(token),
                        "Content-Type": "video/mp4",
                        "Content-Range": f"bytes {position}-{last}/{size}",
                    },
                    timeout=settings.YOUTUBE_TIMEOUT_SECONDS,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                failure = YouTubeError(
                    f"YouTube unreachable during the upload: {type(exc).__name__}", code="unreachable"
                )
                failure.__cause__ = exc  # raised later, outside this handler
            else:
                if response.status_code in FINISHED_STATUSES:
                    return _video(response)
                if response.status_code == RESUME_INCOMPLETE:
                    # Continue from what the server holds, which may be less than what we sent.
                    received = _received(response, size)
                    on_progress(received)
                    if received > position:
                        position, interruptions = received, 0
                        continue
                    position, stalled = received, True
                    failure = YouTubeError(
                        "YouTube keeps accepting none of the upload's bytes.", status=308, code="unavailable"
                    )
                elif _is_transient(response):
                    failure = _error_for(response, on_session=True)
                    if response.status_code == 429:
                        wait = retry_after_seconds(response)
                else:
                    raise _error_for(response, on_session=True)
            if interruptions >= max_interruptions:
                raise failure
            interruptions += 1
            if wait is None:
                wait = _backoff_seconds(interruptions)
            logger.info(
                "YouTube upload interrupted (%s, %d of %d in a row); waiting %.1fs, then resuming from the session",
                failure.code,
                interruptions,
                max_interruptions,
                wait,
            )
            sleep(min(max(wait, 0.0), MAX_WAIT_SECONDS))
            ask_session = not stalled  # a 308 already told us where the server stands


def get_video(*, token: str, video_id: str, sleep: Callable[[float], None] = time.sleep) -> dict | None:
    """The video's `status` and `processingDetails` parts, or None when YouTube lists no such video
    (deleted, or not visible to this token)."""
    response = _send(
        "GET",
        f"{settings.YOUTUBE_API_URL}/youtube/v3/videos",
        sleep=sleep,
        params={"part": "status,processingDetails", "id": video_id},
        headers=_auth(token),
    )
    if response.status_code != 200:
        raise _error_for(response)
    body = _json(response)
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise YouTubeError("YouTube's video list holds no items.", status=200, code="invalid_response")
    return items[0] if items else None


def video_url(video_id: str) -> str:
    """Where a Short is watched. YouTube has no Shorts flag: a vertical video of 3 minutes or less is one."""
    return f"https://www.youtube.com/shorts/{video_id}"


# --- plumbing --------------------------------------------------------------------------------------


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _send(method: str, url: str, *, sleep: Callable[[float], None], **kwargs) -> requests.Response:
    """request_with_retries (5xx, 429, network), plus Google's 403 rate-limit reasons, retried with backoff.

    Only for requests that are safe to repeat: never for a chunk of bytes.
    """
    for attempt in range(1, RATE_LIMIT_ATTEMPTS + 1):
        response = request_with_retries(
            _session,
            method,
            url,
            service="YouTube",
            timeout=settings.YOUTUBE_TIMEOUT_SECONDS,
            max_wait_seconds=MAX_WAIT_SECONDS,
            sleep=sleep,
            error_class=YouTubeError,
            # A 308 answers the upload protocol; requests must not treat it as a redirect.
            allow_redirects=False,
            **kwargs,
        )
        if attempt == RATE_LIMIT_ATTEMPTS or not _is_rate_limit_403(response):
            return response
        wait = _backoff_seconds(attempt)
        logger.info(
            "YouTube rate limit (%s); retrying in %.1fs (attempt %d)", _google_error(response)[0], wait, attempt
        )
        sleep(wait)
    raise AssertionError("unreachable")


def _is_rate_limit_403(response: requests.Response) -> bool:
    return response.status_code == 403 and _google_error(response)[0] in RATE_LIMIT_REASONS


def _is_transient(response: requests.Response) -> bool:
    return response.status_code >= 500 or response.status_code == 429 or _is_rate_limit_403(response)


def _backoff_seconds(attempt: int) -> float:
    return min(MAX_WAIT_SECONDS, 2.0 ** (attempt - 1)) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not crypto)


def _received(response: requests.Response, size: int) -> int:
    """Bytes held according to a 308's `Range: bytes=0-<last>`; no Range means none."""
    header = response.headers.get("Range")
    if header is None:
        return 0
    match = _RANGE.fullmatch(header.strip())
    if match is None or int(match[1]) >= size:
        raise YouTubeError(f"YouTube answered an unexpected Range: {header!r}", status=308, code="invalid_response")
    return int(match[1]) + 1


def _video(response: requests.Response) -> dict:
    body = _json(response)
    if not isinstance(body, dict) or not body.get("id"):
        # The upload finished even so: a status query on the session returns the video again.
        raise YouTubeError(
            "YouTube finished the upload but its answer holds no video.",
            status=response.status_code,
            code="invalid_response",
        )
    return body


def _json(response: requests.Response):
    try:
        return response.json()
    except ValueError as exc:
        raise YouTubeError(
            f"YouTube answered with something that is not JSON (HTTP {response.status_code}).",
            status=response.status_code,
            code="invalid_response",
        ) from exc


def _google_error(response: requests.Response) -> tuple[str, str]:
    """(errors[0].reason or '', a message) from Google's error body, which may be missing or not JSON."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return "", response.reason or f"HTTP {response.status_code}"
    if not isinstance(error, dict):
        # OAuth endpoints answer {"error": "invalid_token", ...}.
        return "", str(error or response.reason)
    errors = error.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    reason = str(first.get("reason") or "")
    message = str(error.get("message") or first.get("message") or response.reason or "")
    return reason, message


def _error_for(response: requests.Response, *, on_session: bool = False) -> YouTubeError:
    status = response.status_code
    reason, message = _google_error(response)

    def error(text: str, code: str) -> YouTubeError:
        suffix = f" [{reason}]" if reason else ""
        return YouTubeError(f"{text}: {message}{suffix}", status=status, code=code, reason=reason)

    if status == 401 or (status == 403 and reason in UNAUTHORIZED_REASONS):
        return error("YouTube rejected the channel's authorization", "unauthorized")
    if reason in QUOTA_REASONS:
        return error("The YouTube API's daily upload quota is spent", "quota_exceeded")
    if reason == "uploadLimitExceeded":
        return error("The channel reached YouTube's upload limit", "upload_limit_exceeded")
    if status == 429 or reason in RATE_LIMIT_REASONS:
        return error("YouTube rate limit still exhausted after waiting", "rate_limited")
    if on_session and status in SESSION_GONE_STATUSES:
        return error("The YouTube upload session expired", "session_expired")
    if status >= 500:
        return error("YouTube is unavailable", "unavailable")
    if status >= 400:
        return error("YouTube rejected the request", "bad_request")
    return error(f"YouTube answered an unexpected HTTP {status}", "invalid_response")
