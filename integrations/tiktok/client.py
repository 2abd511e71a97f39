"""TikTok's Content Posting API, Direct Post with FILE_UPLOAD: creator info, init, chunked upload, status.

Plain `requests` through `integrations.http.request_with_retries`: TikTok has no official Python SDK.
Functions, not a class: every call takes the creator's user token, and nothing is cached between calls.

A post is made in three steps, each of which the caller records so a crash can be resumed:
`init_direct_post` (returns the publish_id: store it before anything else), `upload_chunks` (resumable
from any chunk with `first_chunk`), then `fetch_status` until PUBLISH_COMPLETE or FAILED.
"""

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from django.conf import settings

from integrations.http import IntegrationError, request_with_retries

logger = logging.getLogger(__name__)

SERVICE = "TikTok"
PRIVACY_LEVELS = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")

CREATOR_INFO_PATH = "/v2/post/publish/creator_info/query/"
VIDEO_INIT_PATH = "/v2/post/publish/video/init/"
STATUS_PATH = "/v2/post/publish/status/fetch/"

# TikTok's chunk rules (Media Transfer Guide). "MB" there is 2**20 bytes, as in our settings.
MIN_CHUNK_BYTES = 5 * 1024 * 1024
MAX_CHUNK_BYTES = 64 * 1024 * 1024
MAX_FINAL_CHUNK_BYTES = 128 * 1024 * 1024
MAX_CHUNKS = 1000

# TikTok sends no Retry-After; a short bounded backoff is all a request waits before the caller decides.
MAX_WAIT_SECONDS = 10.0

_session = requests.Session()


class TikTokError(IntegrationError):
    """A TikTok call failed. `code` is TikTok's `error.code` when it gave one on a 4xx (access_token_invalid,
    scope_not_authorized, rate_limit_exceeded, spam_risk_too_many_posts,
    unaudited_client_can_only_post_to_private_accounts, privacy_level_option_mismatch, invalid_params, ...),
    else one of ours: unavailable (5xx, after retries where the call retries), unreachable (network),
    invalid_response (not TikTok's JSON shape), upload_failed (the upload URL refused a chunk; see `status`).
    `log_id` is TikTok's request id, which their support asks for."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, log_id: str | None = None):
        super().__init__(message, status=status, code=code)
        self.log_id = log_id


@dataclass(frozen=True)
class ChunkPlan:
    chunk_size: int
    total_chunk_count: int

    def byte_range(self, index: int, video_size: int) -> tuple[int, int]:
        """First and last byte (inclusive) of chunk `index`: the last chunk takes the remainder."""
        first = index * self.chunk_size
        last = video_size - 1 if index == self.total_chunk_count - 1 else first + self.chunk_size - 1
        return first, last


def chunk_plan(video_size: int, *, preferred_chunk: int | None = None) -> ChunkPlan:
    """How TikTok wants a file of `video_size` bytes cut up.

    Under 5 MB: one chunk of the whole size. Otherwise chunks of `preferred_chunk` (default
    settings.TIKTOK_UPLOAD_CHUNK_BYTES, held to 5-64 MB), `floor(size / chunk)` of them, the last one
    taking the remainder; at most 1000 chunks (the chunk grows to fit). Raises ValueError for an empty
    file or one too large for TikTok's rules (over about 64 GB; TikTok's own size cap is far lower).
    """
    if video_size <= 0:
        raise ValueError(f"A video to upload must have bytes (got size {video_size}).")
    if video_size < MIN_CHUNK_BYTES:
        return ChunkPlan(chunk_size=video_size, total_chunk_count=1)
    chunk = preferred_chunk or settings.TIKTOK_UPLOAD_CHUNK_BYTES
    chunk = min(max(chunk, MIN_CHUNK_BYTES), MAX_CHUNK_BYTES)
    count = video_size // chunk
    if count == 0 or (count == 1 and video_size <= MAX_CHUNK_BYTES):
        # One chunk: send it as "the whole video", the shape TikTok documents for small files, rather
        # than a chunk_size smaller than the only chunk.
        return ChunkPlan(chunk_size=video_size, total_chunk_count=1)
    if count == 1:
        # Over 64 MB must go in several chunks; halves are 32-64 MB, within the limits.
        chunk = video_size // 2
    elif count > MAX_CHUNKS:
        # size // 1000 gives exactly 1000 chunks, the last one taking fewer than 1000 extra bytes.
        chunk = video_size // MAX_CHUNKS
        if chunk > MAX_CHUNK_BYTES:
            raise ValueError(f"A {video_size}-byte video does not fit in {MAX_CHUNKS} chunks of at most 64 MB.")
    return ChunkPlan(chunk_size=chunk, total_chunk_count=video_size // chunk)


def query_creator_info(*, token: str, max_attempts: int = 4) -> dict:
    """The creator's username, nickname, privacy_level_options and interaction settings. TikTok asks
    for it before each post: the privacy level sent to init must be one of the options it lists.
    A caller answering a request passes fewer attempts, to answer within its own timeout."""
    return _api("POST", CREATOR_INFO_PATH, token=token, max_attempts=max_attempts)


def init_direct_post(*, token: str, post_info: dict, video_size: int, plan: ChunkPlan) -> dict:
    """Start a Direct Post; returns {publish_id, upload_url}. The caller must store publish_id first.

    Never retried here, and a 429 is not waited out: an init whose answer was lost may still have
    created a post whose publish_id nobody recorded, TikTok allows only 6 inits a minute per user, and
    the caller's job queue schedules the retry (after it has stored what it knows).
    """
    if post_info.get("privacy_level") not in PRIVACY_LEVELS:
        raise ValueError(f"privacy_level must be one of {PRIVACY_LEVELS}.")
    _check_plan(video_size, plan)
    body = {
        "post_info": post_info,
        "source_info": {
            "source": "FILE_UPLOAD",
            "video_size": video_size,
            "chunk_size": plan.chunk_size,
            "total_chunk_count": plan.total_chunk_count,
        },
    }
    data = _api("POST", VIDEO_INIT_PATH, token=token, body=body, max_attempts=1)
    if not data.get("publish_id") or not data.get("upload_url"):
        raise TikTokError("TikTok's init answer has no publish_id or upload_url.", code="invalid_response")
    logger.info("TikTok post initialised: publish_id %s, %d chunk(s)", data["publish_id"], plan.total_chunk_count)
    return data


def upload_chunks(
    *,
    upload_url: str,
    path: Path,
    video_size: int,
    plan: ChunkPlan,
    first_chunk: int = 0,
    on_chunk: Callable[[int], None] = lambda index: None,
) -> None:
    """PUT the file's chunks to `upload_url` in order, from `first_chunk`; `on_chunk(index)` after each
    one TikTok accepts, so the caller can resume after the last recorded chunk.

    A chunk is retried on 5xx and network errors: sending the same bytes to the same URL again is safe.
    Raises TikTokError upload_failed when TikTok refuses a chunk (4xx), unavailable or unreachable when
    retries run out. The upload URL is valid for an hour after init.
    """
    _check_plan(video_size, plan)
    if not 0 <= first_chunk < plan.total_chunk_count:
        raise ValueError(f"first_chunk {first_chunk} is outside 0..{plan.total_chunk_count - 1}.")
    if path.stat().st_size != video_size:
        raise ValueError(f"{path.name} has {path.stat().st_size} bytes, not the {video_size} announced to TikTok.")
    with path.open("rb") as video:
        for index in range(first_chunk, plan.total_chunk_count):
            first, last = plan.byte_range(index, video_size)
            video.seek(first)
            chunk = video.read(last - first + 1)
            _put_chunk(
                upload_url, chunk, first=first, last=last, total=video_size, final=index == plan.total_chunk_count - 1
            )
            on_chunk(index)


def fetch_status(*, token: str, publish_id: str) -> dict:
    """Where the post stands: {status, fail_reason?, publicaly_available_post_id?, uploaded_bytes?}.

    status is PROCESSING_UPLOAD, PROCESSING_DOWNLOAD, SEND_TO_USER_INBOX, PUBLISH_COMPLETE or FAILED.
    The post ids (TikTok's spelling of the key is kept) come back as strings: TikTok sends 19-digit
    numbers. The list stays empty after PUBLISH_COMPLETE until moderation passes, minutes to hours.
    """
    data = _api("POST", STATUS_PATH, token=token, body={"publish_id": publish_id})
    if not isinstance(data.get("status"), str):
        raise TikTokError("TikTok's status answer has no status.", code="invalid_response")
    if "publicaly_available_post_id" in data:
        data["publicaly_available_post_id"] = [str(post_id) for post_id in data["publicaly_available_post_id"] or []]
    return data


def post_url(*, username: str, post_id: str) -> str:
    return f"https://www.tiktok.com/@{username}/video/{post_id}"


# --- plumbing ------------------------------------------------------------------------------------


def _sleep(seconds: float) -> None:
    # Looked up at call time, so tests can replace it.
    time.sleep(seconds)


def _check_plan(video_size: int, plan: ChunkPlan) -> None:
    """Refuse a plan TikTok would refuse, before spending one of the 6 inits a minute on it."""
    chunk, count = plan.chunk_size, plan.total_chunk_count
    if video_size < MIN_CHUNK_BYTES:
        fits = 0 < video_size == chunk and count == 1
    else:
        fits = (
            MIN_CHUNK_BYTES <= chunk <= MAX_CHUNK_BYTES
            and 1 <= count <= MAX_CHUNKS
            and count == video_size // chunk
            and (count > 1 or video_size <= MAX_CHUNK_BYTES)
            and video_size - (count - 1) * chunk <= MAX_FINAL_CHUNK_BYTES
        )
    if not fits:
        raise ValueError(f"{plan} does not fit a {video_size}-byte video under TikTok's rules: use chunk_plan().")


def _api(method: str, path: str, *, token: str, body: dict | None = None, max_attempts: int = 4) -> dict:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=UTF-8"}
    response = request_with_retries(
        _session,
        method,
        f"{settings.TIKTOK_API_URL}{path}",
        service=SERVICE,
        timeout=settings.TIKTOK_TIMEOUT_SECONDS,
        max_attempts=max_attempts,
        max_wait_seconds=MAX_WAIT_SECONDS,
        sleep=_sleep,
        error_class=TikTokError,
        headers=headers,
        data=json.dumps(body) if body is not None else None,
    )
    return _answer(response)


def _answer(response: requests.Response) -> dict:
    """`data` of a JSON answer whose error.code is "ok" (TikTok says so even with HTTP 200), else raise."""
    status = response.status_code
    try:
        payload = response.json()
    except ValueError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    error = error if isinstance(error, dict) else {}
    code, log_id, message = error.get("code"), error.get("log_id") or None, error.get("message") or ""
    if status >= 500:
        # TikTok's 5xx code is the generic internal_error: callers need one code for "try later".
        raise TikTokError(
            f"TikTok is unavailable (HTTP {status}, {code or 'no error code'}).",
            status=status,
            code="unavailable",
            log_id=log_id,
        )
    if status == 429 and not code:
        code = "rate_limit_exceeded"
    if code and code != "ok":
        logger.info("TikTok refused a request: %s (HTTP %s, log_id %s)", code, status, log_id)
        raise TikTokError(
            f"TikTok refused the request: {code}: {message}".rstrip(": "), status=status, code=code, log_id=log_id
        )
    if status >= 300 or code != "ok" or not isinstance(payload.get("data"), dict):
        raise TikTokError(
            f"TikTok answered HTTP {status} without its usual JSON.",
            status=status,
            code="invalid_response",
            log_id=log_id,
        )
    return payload["data"]


def _put_chunk(upload_url: str, chunk: bytes, *, first: int, last: int, total: int, final: bool) -> None:
    headers = {
        "Content-Type": "video/mp4",
        "Content-Length": str(len(chunk)),
        "Content-Range": f"bytes {first}-{last}/{total}",
    }
    # The upload URL carries its own credentials: no Authorization header goes to it.
    response = request_with_retries(
        _session,
        "PUT",
        upload_url,
        service=f"{SERVICE} upload",
        timeout=settings.TIKTOK_UPLOAD_TIMEOUT_SECONDS,
        max_wait_seconds=MAX_WAIT_SECONDS,
        sleep=_sleep,
        error_class=TikTokError,
        headers=headers,
        data=chunk,
    )
    status = response.status_code
    if status >= 500:
        raise TikTokError(f"TikTok's upload is unavailable (HTTP {status}).", status=status, code="unavailable")
    if status >= 400:
        raise TikTokError(
            f"TikTok refused bytes {first}-{last}/{total} (HTTP {status}).",
            status=status,
            code="rate_limit_exceeded" if status == 429 else "upload_failed",
            log_id=_log_id(response),
        )
    # 206 while chunks remain, 201 once the file is complete; anything else means we disagree on the plan.
    if status != (201 if final else 206) and status != 200:
        raise TikTokError(
            f"TikTok answered HTTP {status} to bytes {first}-{last}/{total}.", status=status, code="invalid_response"
        )


def _log_id(response: requests.Response) -> str | None:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return response.headers.get("X-Tt-Logid")
    return error.get("log_id") if isinstance(error, dict) else None
