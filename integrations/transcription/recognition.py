"""What every speech-recognition provider returns, how it fails, and the HTTP plumbing they share."""

import math
import time
from dataclasses import dataclass

import requests
from django.conf import settings

from integrations.http import IntegrationError, request_with_retries

# An upload is costly (up to 25 MB, up to TRANSCRIPTION_TIMEOUT_SECONDS each): fewer attempts than
# the other clients, still enough to ride out a rate limit or a brief outage.
MAX_ATTEMPTS = 3
# The shortest word: providers sometimes give a word the same start and end.
MIN_WORD_SECONDS = 0.01
# Longest provider message quoted in an error.
MAX_DETAIL_CHARS = 300

_session = requests.Session()


class TranscriptionError(IntegrationError):
    """Speech recognition failed. `code` is one of: not_configured, unauthorized, rate_limited,
    unavailable, unreachable, bad_request, too_large, invalid_response. The message never holds the key."""


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds from the start of the audio sent
    end: float


@dataclass(frozen=True)
class Recognition:
    language: str  # ISO 639-1 ("en"), or "" when unknown
    words: tuple[Word, ...]
    duration: float | None  # seconds of audio, as the provider measured it


def _sleep(seconds: float) -> None:
    """The wait between attempts; tests replace it."""
    time.sleep(seconds)


def send(service: str, url: str, **kwargs) -> requests.Response:
    """POST with our timeout and retries; a network failure on every attempt raises `unreachable`.

    The body must be bytes, not a file object: a retry sends it again from the start.
    """
    return request_with_retries(
        _session,
        "POST",
        url,
        service=service,
        timeout=settings.TRANSCRIPTION_TIMEOUT_SECONDS,
        max_attempts=MAX_ATTEMPTS,
        max_wait_seconds=settings.TRANSCRIPTION_MAX_RATE_LIMIT_WAIT_SECONDS,
        sleep=_sleep,
        error_class=TranscriptionError,
        **kwargs,
    )


def json_answer(service: str, response: requests.Response) -> dict:
    """The JSON object of a successful answer; any failure raises a typed TranscriptionError."""
    raise_for_status(service, response)
    try:
        body = response.json()
    except ValueError as exc:
        raise TranscriptionError(
            f"{service} answered with something that is not JSON.", status=response.status_code, code="invalid_response"
        ) from exc
    if not isinstance(body, dict):
        raise invalid_response(service, "the answer is not a JSON object")
    return body


def raise_for_status(service: str, response: requests.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    if status in (401, 402, 403):
        # Not quoted: OpenAI's 401 message echoes part of the key.
        raise TranscriptionError(
            f"{service} refused TRANSCRIPTION_API_KEY (HTTP {status}): check the key and the account's credit.",
            status=status,
            code="unauthorized",
        )
    detail = _detail(response)
    if status == 413:
        raise TranscriptionError(f"{service} refused the audio as too large: {detail}", status=status, code="too_large")
    if status == 429:
        raise TranscriptionError(
            f"{service} rate limit still exceeded after retrying: {detail}", status=status, code="rate_limited"
        )
    if status >= 500:
        raise TranscriptionError(f"{service} is unavailable (HTTP {status}).", status=status, code="unavailable")
    raise TranscriptionError(
        f"{service} rejected the request (HTTP {status}): {detail}", status=status, code="bad_request"
    )


def invalid_response(service: str, problem: str) -> TranscriptionError:
    return TranscriptionError(f"{service} answered with an unusable transcription: {problem}.", code="invalid_response")


def make_words(service: str, entries, *, text_key: str, fallback_key: str | None = None) -> tuple[Word, ...]:
    """Words from the provider's list of {text, start, end} objects, cleaned up for captions.

    Text is stripped and empty words dropped; times below 0 become 0 and a word always ends
    after it starts. A malformed entry fails the whole answer rather than leaving a hole.
    """
    if not isinstance(entries, list):
        raise invalid_response(service, "the word list is missing")
    words = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise invalid_response(service, "a word is not an object")
        text = entry.get(text_key)
        if text is None and fallback_key:
            text = entry.get(fallback_key)
        if not isinstance(text, str):
            raise invalid_response(service, "a word has no text")
        text = text.strip()
        if not text:
            continue
        start = max(0.0, _seconds(service, entry.get("start")))
        end = max(0.0, _seconds(service, entry.get("end")))
        if end <= start:
            end = start + MIN_WORD_SECONDS
        words.append(Word(text=text, start=start, end=end))
    return tuple(words)


def optional_seconds(value) -> float | None:
    """A duration the provider may leave out: None unless it is a finite, non-negative number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def iso_code(value) -> str:
    """An ISO 639-1 code from a language tag ("en", "en-US", "pt_BR"), or "" when it is not one."""
    if not isinstance(value, str):
        return ""
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    return primary if len(primary) == 2 and primary.isascii() and primary.isalpha() else ""


def _seconds(service: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid_response(service, "a word has no valid start or end time")
    return float(value)


def _detail(response: requests.Response) -> str:
    """The provider's own explanation (OpenAI: error.message; Deepgram: err_msg), without the key."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message") or ""
        elif isinstance(error, str):
            message = error
        message = message or body.get("err_msg") or body.get("message") or ""
    if not isinstance(message, str) or not message.strip():
        message = response.reason or f"HTTP {response.status_code}"
    return redact(message.strip())[:MAX_DETAIL_CHARS]


def redact(message: str) -> str:
    key = settings.TRANSCRIPTION_API_KEY
    return message.replace(key, "[redacted]") if key else message
