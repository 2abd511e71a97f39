"""Render backends: where a job is rendered. Both report through the same service functions."""

from renders.backends.base import Backend, BackendError, Progress, RateLimited, Started
from renders.backends.local import LocalBackend
from renders.backends.remotion import RemotionLambdaBackend
from renders.models import RenderJob

__all__ = ["Backend", "BackendError", "Progress", "RateLimited", "Started", "get_backend"]

_BACKENDS: dict[str, type] = {
    RenderJob.Backend.REMOTION_LAMBDA: RemotionLambdaBackend,
    RenderJob.Backend.LOCAL: LocalBackend,
}


def get_backend(name: str) -> Backend:
    try:
        return _BACKENDS[name]()
    except KeyError:
        raise BackendError(f"Unknown render backend {name!r}.", retryable=False) from None
