"""Outbound HTTP shared by the integration clients: timeouts, bounded retries, typed errors."""

import logging
import random
import time
from collections.abc import Callable
from pathlib import Path

import requests

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = {429, 500, 502, 503, 504}


class IntegrationError(Exception):
    """A call to an external service failed; `str()` is a message fit for logs and admins."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


def request_with_retries(
    session: requests.Session,
    method: str,
    url: str,
    *,
    service: str,
    timeout: float,
    max_attempts: int = 4,
    max_wait_seconds: float = 30.0,
    wait_for_rate_limit: Callable[[requests.Response], float | None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    error_class: type[IntegrationError] = IntegrationError,
    **kwargs,
) -> requests.Response:
    """Send a request, retrying 429s (after the server's reset, bounded) and 5xx/network errors with backoff.

    Returns the final response whatever its status, unless every attempt failed on
    the network, which raises `error_class` (code "unreachable").
    """
    for attempt in range(1, max_attempts + 1):
        try:
            response = session.request(method, url, timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            if attempt == max_attempts:
                raise error_class(f"{service} unreachable: {type(exc).__name__}", code="unreachable") from exc
            _backoff(attempt, max_wait_seconds, sleep, reason=f"{service} {type(exc).__name__}")
            continue
        if response.status_code not in RETRYABLE_STATUSES or attempt == max_attempts:
            return response
        if response.status_code == 429:
            wait = (wait_for_rate_limit or retry_after_seconds)(response)
            if wait is not None:
                wait = min(max(wait, 0.0), max_wait_seconds)
                logger.info("%s rate limit hit; waiting %.1fs (attempt %d)", service, wait, attempt)
                sleep(wait)
                continue
        _backoff(attempt, max_wait_seconds, sleep, reason=f"{service} HTTP {response.status_code}")
    raise AssertionError("unreachable")


def retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _backoff(attempt: int, max_wait_seconds: float, sleep: Callable[[float], None], *, reason: str) -> None:
    wait = min(max_wait_seconds, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not crypto)
    logger.info("%s; retrying in %.1fs (attempt %d)", reason, wait, attempt)
    sleep(wait)


class DownloadFailed(IntegrationError):
    """A file download failed. `code`: "http_status" (see `status`), "too_large" or "unreachable"."""


def download_to_file(url: str, path: Path, *, timeout: float, max_bytes: int, chunk_bytes: int = 2**20) -> int:
    """Stream `url` into `path`; returns the size. Refuses a file larger than `max_bytes`, whether its
    Content-Length says so or only the bytes that arrive do (the header may be missing or wrong)."""
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise DownloadFailed(f"HTTP {response.status_code}", status=response.status_code, code="http_status")
            if _declared_length(response) > max_bytes:
                raise DownloadFailed(f"larger than {max_bytes} bytes", code="too_large")
            received = 0
            with path.open("wb") as target:
                for chunk in response.iter_content(chunk_bytes):
                    received += len(chunk)
                    if received > max_bytes:
                        raise DownloadFailed(f"larger than {max_bytes} bytes", code="too_large")
                    target.write(chunk)
    except requests.RequestException as exc:
        raise DownloadFailed(type(exc).__name__, code="unreachable") from exc
    return received


def _declared_length(response: requests.Response) -> int:
    """The Content-Length header, or 0 when it is missing or malformed (the streamed count still applies)."""
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else 0
