"""Render backends: where a job is rendered. Both report through the same service functions."""

from dataclasses import dataclass
from typing import Protocol

from renders.models import RenderJob


class DispatchError(Exception):
    """Starting or polling a render failed. `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class RateLimited(DispatchError):
    """The backend is at capacity (Lambda concurrency): back off and try later."""


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
    cost: float | None = None


class Backend(Protocol):
    def start(self, job: RenderJob) -> Started: ...

    def progress(self, job: RenderJob) -> Progress: ...


def get_backend(name: str) -> Backend:
    if name == RenderJob.Backend.REMOTION_LAMBDA:
        from renders.backends.remotion import RemotionLambdaBackend

        return RemotionLambdaBackend()
    if name == RenderJob.Backend.LOCAL:
        from renders.backends.local import LocalBackend

        return LocalBackend()
    raise DispatchError(f"Unknown render backend {name!r}.", retryable=False)
