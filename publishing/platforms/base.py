"""What a platform's steps tell the publication's state machine, and the pieces they share."""

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from django.utils import timezone

from publishing.models import Publication, PublicationEvent

logger = logging.getLogger(__name__)

Reason = Publication.FailureReason
Waiting = Publication.WaitingReason
RenderFile = Callable[[], AbstractContextManager[Path]]


class PublishFailed(Exception):
    """The publication cannot succeed as it is: it ends `failed` with `reason` (auth, rejected, error)."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


class WaitUntil(Exception):
    """The platform asks us to wait (a quota, a rate limit): try again at `until`, saying why."""

    def __init__(self, message: str, *, reason: str, until: datetime):
        super().__init__(message)
        self.reason = reason
        self.until = until


class CheckAgain(Exception):
    """Nothing wrong, nothing to do yet: look again in `seconds` (not counted as a failed attempt)."""

    def __init__(self, message: str, *, seconds: int):
        super().__init__(message)
        self.seconds = seconds


class TryAgain(Exception):
    """A transient failure (the platform down, a network error): retried with backoff, then failed."""


@dataclass(frozen=True)
class CheckResult:
    """What processing looks like now. `published` with no `external_id`: live, its public id not given yet."""

    published: bool = False
    external_id: str = ""
    external_url: str = ""
    check_again_in_seconds: int = 30


class Platform(Protocol):
    def upload(self, publication: Publication, *, token: str, render_file: RenderFile) -> None:
        """Upload, or resume the upload of, the render; returns once the platform holds the whole file."""

    def check(self, publication: Publication, *, token: str) -> CheckResult:
        """How the uploaded post is doing."""


def step_reached(publication: Publication, step: str) -> None:
    """Each step ends here once what it did is stored: a worker killed after it resumes from there.

    The crash tests make this raise, to kill the worker between any two steps.
    """
    logger.debug("Publication %s: %s", publication.pk, step)


def save_progress(publication: Publication, **fields) -> None:
    """Store upload state on the row (only while it is uploading) and on the instance."""
    Publication.objects.filter(pk=publication.pk, status=Publication.Status.UPLOADING).update(
        updated_at=timezone.now(), **fields
    )
    for name, value in fields.items():
        setattr(publication, name, value)


def record(publication: Publication, kind: str, source: str = PublicationEvent.Source.WORKER, **payload) -> None:
    PublicationEvent.objects.create(publication=publication, kind=kind, source=source, payload=payload)


@contextmanager
def platform_errors(error_class: type[Exception], translate: Callable[[Exception], Exception]) -> Iterator[None]:
    """Turn a client's typed errors (`error_class`) into what the state machine does about them."""
    try:
        yield
    except error_class as error:
        raise translate(error) from error
