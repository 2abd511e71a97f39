"""What every render backend offers, and the typed results the services apply."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from renders.models import RenderJob


class BackendError(Exception):
    """Starting, polling or running a render failed. `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class RateLimited(BackendError):
    """The backend is at capacity (Lambda concurrency): back off and try later."""


class StartOutcomeUnknown(BackendError):
    """The start request may have reached the backend, but its answer was lost (e.g. a read timeout).

    A render may be running, and paid for: starting again now could start a second one. Wait for
    its webhook or the dispatch timeout instead.
    """

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class Started:
    render_id: str
    bucket: str = ""


@dataclass(frozen=True)
class Progress:
    done: bool
    progress: float
    fatal: bool = False
    error_message: str = ""
    output_url: str = ""
    cost: Decimal | float | None = None


class Backend(Protocol):
    def start(self, job: RenderJob) -> Started: ...

    def progress(self, job: RenderJob) -> Progress: ...
