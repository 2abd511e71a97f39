"""Publications: creation, the state machine that posts a render once, scheduling, and the backstop.

Each step is a queue job that may run twice or die half-way. So: a run holds the publication's
advisory lock (one live run at a time); every transition is one conditional UPDATE from the
states it is allowed from; and the platform's own ids (YouTube's session URI, TikTok's
publish_id) are stored before a byte is sent, so a new run resumes instead of posting again.
The database refuses a second live publication of a render to a platform.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.features import plan_limits
from accounts.models import User
from accounts.services import user_row_lock
from core.errors import Conflict, ServiceError, Unavailable
from core.locks import advisory_lock
from core.queue import defer
from publishing import analytics
from publishing.connections import AccountNotConnected, MissingScope, platform_token
from publishing.media import render_output_file
from publishing.models import Publication, PublicationEvent
from publishing.platforms.base import CheckAgain, Platform, PublishFailed, Reason, TryAgain, WaitUntil, record
from publishing.platforms.tiktok import TikTok
from publishing.platforms.youtube import YouTube
from publishing.rules import InvalidPublication, post_settings_validate
from renders.models import RenderJob

logger = logging.getLogger(__name__)

Status = Publication.Status
Source = PublicationEvent.Source
ADVANCE_TASK = "publishing.tasks.advance_publication"
PLATFORMS: dict[str, Platform] = {"youtube": YouTube(), "tiktok": TikTok()}
MAX_SCHEDULE_AHEAD = timedelta(days=183)
# A job the queue runs a moment before its time is still on time.
DUE_TOLERANCE = timedelta(seconds=5)
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 60 * 60
# How long a published TikTok post is checked for its public id (moderation can take hours).
POST_ID_WAIT = timedelta(hours=48)
# An active publication nobody touched for this long lost its job: the backstop queues it again.
STALLED_AFTER = timedelta(minutes=2)


class PublicationLimitReached(ServiceError):
    status = 429
    default_code = "publication_limit_reached"


class AdvanceOutcome(StrEnum):
    BUSY = "busy"
    NOTHING_TO_DO = "nothing_to_do"
    NOT_DUE = "not_due"
    STARTED = "started"
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    PUBLISHED = "published"
    WAITING = "waiting"
    RETRYING = "retrying"
    FAILED = "failed"


# --- Creation, cancel, retry ---------------------------------------------------------------------


def publication_create(
    *,
    owner: User,
    render: RenderJob,
    platform: str,
    title: str = "",
    description: str = "",
    privacy: str = "public",
    scheduled_at: datetime | None = None,
    source: str = Source.API,
) -> Publication:
    """Validate and record a publication of a succeeded render, and queue its first step.

    Raises InvalidPublication (400), a 409 (render_not_ready, already_published,
    account_not_connected, missing_scope), PublicationLimitReached (429) or Unavailable (503).
    """
    if render.owner_id != owner.pk or render.status != RenderJob.Status.SUCCEEDED:
        raise Conflict("Only a render that succeeded can be published.", code="render_not_ready")
    _check_schedule(scheduled_at)
    _refuse_second_publication(render, platform)
    clip_title = render.clip.title if render.clip_id else ""
    post = post_settings_validate(
        owner=owner, platform=platform, title=title, description=description, privacy=privacy, default_title=clip_title
    )
    start_at = publication_start_time(platform=platform, privacy=post.privacy, scheduled_at=scheduled_at)
    due_now = start_at is None or start_at <= timezone.now()
    try:
        with transaction.atomic():
            user_row_lock(user_id=owner.pk)
            _check_daily_limit(owner)
            publication = Publication.objects.create(
                owner=owner,
                render=render,
                platform=platform,
                title=post.title,
                description=post.description,
                privacy=post.privacy,
                account_name=post.account_name,
                scheduled_at=scheduled_at,
                status=Status.QUEUED if due_now else Status.SCHEDULED,
                next_attempt_at=None if due_now else start_at,
            )
            record(publication, "created", source, scheduled_at=scheduled_at.isoformat() if scheduled_at else None)
            _defer_advance(publication, at=publication.next_attempt_at)
            analytics.publication_requested(publication)
    except IntegrityError as exc:
        raise _already_published(platform) from exc
    return publication


def publication_start_time(*, platform: str, privacy: str, scheduled_at: datetime | None) -> datetime | None:
    """When the upload of a scheduled post starts. YouTube uploads public posts early, private with
    `publishAt`, so YouTube makes them public on time even if our workers are down then."""
    if scheduled_at is None:
        return None
    if platform == Publication.Platform.YOUTUBE and privacy == "public":
        return scheduled_at - timedelta(seconds=settings.PUBLISH_YOUTUBE_UPLOAD_LEAD_SECONDS)
    return scheduled_at


def publication_cancel(*, publication: Publication, source: str = Source.API) -> bool:
    """Cancel a publication whose upload has not started. False when it has (or it is final)."""
    return _transition(
        publication,
        allowed=(Status.SCHEDULED, Status.QUEUED),
        to=Status.CANCELLED,
        source=source,
        kind="cancelled",
        # An earlier run's session or post: the upload has started, cancelling could no longer stop it.
        extra_filter=Q(upload_url="", publish_id="", external_id=""),
        finished_at=timezone.now(),
        next_attempt_at=None,
        waiting_reason="",
    )


def publication_retry(*, publication: Publication, source: str = Source.API) -> bool:
    """Send a failed publication back. It resumes from its stored upload unless the platform rejected
    the video (then it posts anew). 409 already_published when another publication took its place."""
    fresh_upload = {}
    if publication.failure_reason == Reason.REJECTED:
        fresh_upload = {
            "upload_url": "",
            "publish_id": "",
            "upload_size": None,
            "bytes_sent": 0,
            "last_chunk_started_at": None,
            "external_id": "",
            "external_url": "",
            "uploaded_at": None,
        }
    start_at = publication_start_time(
        platform=publication.platform, privacy=publication.privacy, scheduled_at=publication.scheduled_at
    )
    due_now = start_at is None or start_at <= timezone.now()
    try:
        with transaction.atomic():
            # A retry posts again: it counts against the day's publications like a new one.
            user_row_lock(user_id=publication.owner_id)
            if Publication.objects.filter(pk=publication.pk, status=Status.FAILED).exists():
                _check_daily_limit(publication.owner)
            won = _transition(
                publication,
                allowed=(Status.FAILED,),
                to=Status.QUEUED if due_now else Status.SCHEDULED,
                source=source,
                kind="retried",
                payload={"resumes_upload": not fresh_upload and bool(publication.upload_url or publication.publish_id)},
                failure_reason="",
                error_message="",
                waiting_reason="",
                attempts=0,
                next_attempt_at=None if due_now else start_at,
                finished_at=None,
                requeued_at=timezone.now(),
                **fresh_upload,
            )
            if won:
                _defer_advance(publication, at=publication.next_attempt_at)
    except IntegrityError as exc:
        raise _already_published(publication.platform) from exc
    return won


def publication_recheck(*, publication: Publication, source: str = Source.ADMIN) -> bool:
    """Run the next step now, waiting or not (staff, after fixing what it waited for)."""
    rows = Publication.objects.filter(_advanceable(timezone.now()), pk=publication.pk)
    if not rows.update(next_attempt_at=None, waiting_reason=""):
        return False
    record(publication, "recheck_requested", source)
    _defer_advance(publication, at=None)
    return True


def _check_schedule(scheduled_at: datetime | None) -> None:
    if scheduled_at is None:
        return
    now = timezone.now()
    if scheduled_at <= now:
        raise InvalidPublication("The scheduled time is in the past.", code="invalid_schedule")
    if scheduled_at > now + MAX_SCHEDULE_AHEAD:
        raise InvalidPublication("Posts can be scheduled at most 6 months ahead.", code="invalid_schedule")


def _refuse_second_publication(render: RenderJob, platform: str) -> None:
    if Publication.objects.filter(render=render, platform=platform, status__in=Publication.LIVE).exists():
        raise _already_published(platform)


def _already_published(platform: str) -> Conflict:
    return Conflict(
        f"This render is already published or being published to {platform}.",
        code="already_published",
        details={"platform": platform},
    )


def _check_daily_limit(owner: User) -> None:
    daily = plan_limits(owner).get("daily_publications")
    if not isinstance(daily, int):
        return
    day_start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    # What never reached a platform (failed or cancelled) does not count.
    used = (
        Publication.objects.filter(owner=owner, created_at__gte=day_start)
        .exclude(status__in=(Status.FAILED, Status.CANCELLED))
        .count()
    )
    if used >= daily:
        resets_at = day_start + timedelta(days=1)
        raise PublicationLimitReached(
            f"You have used all {daily} publications of today; the limit resets at {resets_at:%H:%M} UTC.",
            details={"limit": daily, "used": used, "resets_at": resets_at.isoformat()},
        )


# --- The state machine ------------------------------------------------------------------------


def publication_advance(*, publication_id: str) -> AdvanceOutcome:
    """Take a publication one step further (as far as it can go now). Safe to run twice, or after a crash."""
    with advisory_lock(f"publication:{publication_id}") as acquired:
        if not acquired:
            return AdvanceOutcome.BUSY  # a live run has it
        rows = Publication.objects.select_related("owner", "render").filter(_advanceable(timezone.now()))
        publication = rows.filter(pk=publication_id).first()
        if publication is None:
            return AdvanceOutcome.NOTHING_TO_DO
        if publication.next_attempt_at and publication.next_attempt_at > timezone.now() + DUE_TOLERANCE:
            return AdvanceOutcome.NOT_DUE
        try:
            return _advance(publication)
        except WaitUntil as wait:
            _wait(publication, reason=wait.reason, until=wait.until, message=str(wait))
            return AdvanceOutcome.WAITING
        except CheckAgain as later:
            _check_later(publication, seconds=later.seconds, note=str(later))
            return AdvanceOutcome.PROCESSING
        except PublishFailed as failure:
            _fail(publication, reason=failure.reason, message=str(failure))
            return AdvanceOutcome.FAILED
        except Exception as exc:
            # Whatever it is (the platform down, a bug), the publication must not stay stuck.
            if not isinstance(exc, TryAgain):
                logger.exception("Publication %s: unexpected error", publication_id)
            return _retry_later(publication, message=str(exc) or type(exc).__name__)


def _advance(publication: Publication) -> AdvanceOutcome:
    if publication.status == Status.SCHEDULED and not _transition(
        publication, allowed=(Status.SCHEDULED,), to=Status.QUEUED, kind="due", source=Source.SCHEDULER
    ):
        return AdvanceOutcome.NOTHING_TO_DO
    token = _worker_token(publication)
    platform = PLATFORMS[publication.platform]
    if publication.status == Status.QUEUED and not _transition(
        publication, allowed=(Status.QUEUED,), to=Status.UPLOADING, kind="upload_started", next_attempt_at=None
    ):
        return AdvanceOutcome.NOTHING_TO_DO
    if publication.status == Status.UPLOADING and not _upload(publication, platform, token=token):
        return AdvanceOutcome.NOTHING_TO_DO
    result = platform.check(publication, token=token)
    if not result.published:
        _check_later(publication, seconds=result.check_again_in_seconds)
        return AdvanceOutcome.PROCESSING
    if publication.status == Status.PUBLISHED:
        _post_id_known(publication, external_id=result.external_id, external_url=result.external_url)
        return AdvanceOutcome.PUBLISHED
    now = timezone.now()
    _transition(
        publication,
        allowed=(Status.PROCESSING,),
        to=Status.PUBLISHED,
        kind="published",
        payload={"external_id": result.external_id, "external_url": result.external_url},
        external_id=result.external_id,
        external_url=result.external_url,
        published_at=now,
        finished_at=now,
        attempts=0,
        waiting_reason="",
        next_attempt_at=None,
    )
    if not result.external_id:
        _check_later(publication, seconds=result.check_again_in_seconds, allowed=(Status.PUBLISHED,))
    return AdvanceOutcome.PUBLISHED


def _upload(publication: Publication, platform: Platform, *, token: str) -> bool:
    platform.upload(publication, token=token, render_file=lambda: render_output_file(publication.render))
    return _transition(
        publication,
        allowed=(Status.UPLOADING,),
        to=Status.PROCESSING,
        kind="uploaded",
        uploaded_at=timezone.now(),
        attempts=0,
        waiting_reason="",
    )


def _worker_token(publication: Publication) -> str:
    try:
        return platform_token(user=publication.owner, platform=publication.platform)
    except (AccountNotConnected, MissingScope) as exc:
        raise PublishFailed(str(exc), reason=Reason.AUTH) from exc
    except Unavailable as exc:
        raise TryAgain(str(exc)) from exc


def _awaiting_post_id(now: datetime) -> Q:
    """Published TikTok posts whose public id moderation still withholds (checked for 48 hours)."""
    return Q(status=Status.PUBLISHED, external_id="", published_at__gt=now - POST_ID_WAIT)


def _advanceable(now: datetime) -> Q:
    """Publications a step can take further: the active ones, and the posts still awaiting their id."""
    return Q(status__in=Publication.ACTIVE) | _awaiting_post_id(now)


def _post_id_known(publication: Publication, *, external_id: str, external_url: str) -> None:
    if not external_id:
        _check_later(publication, seconds=5 * 60, allowed=(Status.PUBLISHED,))
        return
    updated = Publication.objects.filter(pk=publication.pk, status=Status.PUBLISHED, external_id="").update(
        external_id=external_id, external_url=external_url, next_attempt_at=None, updated_at=timezone.now()
    )
    if updated:
        record(publication, "post_id_known", external_id=external_id, external_url=external_url)


def _check_later(
    publication: Publication, *, seconds: int, note: str = "", allowed: tuple[str, ...] = Publication.ACTIVE
) -> None:
    _next_step_at(publication, timezone.now() + timedelta(seconds=seconds), allowed=allowed)
    if note:
        record(publication, "check_later", seconds=seconds, note=note[:500])


def _wait(publication: Publication, *, reason: str, until: datetime, message: str) -> None:
    _next_step_at(publication, until, waiting_reason=reason, error_message=message[:2000])
    record(publication, "waiting", reason=reason, until=until.isoformat(), message=message[:500])


def _retry_later(publication: Publication, *, message: str) -> AdvanceOutcome:
    attempts = publication.attempts + 1
    if attempts >= settings.PUBLISH_MAX_ATTEMPTS:
        _fail(publication, reason=Reason.ERROR, message=f"Gave up after {attempts} attempts: {message}")
        return AdvanceOutcome.FAILED
    delay = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempts - 1))
    _next_step_at(
        publication,
        timezone.now() + timedelta(seconds=delay),
        attempts=attempts,
        waiting_reason=Publication.WaitingReason.PLATFORM_UNAVAILABLE,
        error_message=message[:2000],
    )
    record(publication, "attempt_failed", attempt=attempts, retry_in_seconds=delay, error=message[:500])
    return AdvanceOutcome.RETRYING


def _fail(publication: Publication, *, reason: str, message: str) -> None:
    _transition(
        publication,
        allowed=Publication.ACTIVE,
        to=Status.FAILED,
        kind="failed",
        payload={"reason": reason, "message": message[:500]},
        failure_reason=reason,
        error_message=message[:2000],
        waiting_reason="",
        next_attempt_at=None,
        finished_at=timezone.now(),
    )


def _next_step_at(
    publication: Publication, at: datetime, *, allowed: tuple[str, ...] = Publication.ACTIVE, **fields
) -> None:
    """Record when the publication's next step runs (with `fields`, while it is in `allowed`), and queue it."""
    Publication.objects.filter(pk=publication.pk, status__in=allowed).update(
        next_attempt_at=at, updated_at=timezone.now(), **fields
    )
    _defer_advance(publication, at=at)


def _defer_advance(publication: Publication, *, at: datetime | None) -> None:
    """Queue the publication's step job, to run at `at` (None: now)."""
    delay = None if at is None else max(0.0, (at - timezone.now()).total_seconds())
    defer(ADVANCE_TASK, delay_seconds=delay, publication_id=str(publication.pk))


# --- The backstop -------------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    queued: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"queued {len(self.queued)}"


def publications_stalled(*, idle_for: timedelta, overdue_by: timedelta = timedelta(0)) -> Q:
    """Active publications untouched for `idle_for` whose next step is missing or overdue by `overdue_by`."""
    now = timezone.now()
    return Q(status__in=Publication.ACTIVE, updated_at__lte=now - idle_for) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now - overdue_by)
    )


def publications_reconcile() -> ReconcileReport:
    """Queue the next step of every publication that is due but has no job (lost, or its worker died)."""
    now = timezone.now()
    stalled = Publication.objects.filter(publications_stalled(idle_for=STALLED_AFTER))
    moderated = Publication.objects.filter(_awaiting_post_id(now)).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    report = ReconcileReport()
    for publication_id in [*stalled.values_list("pk", flat=True), *moderated.values_list("pk", flat=True)]:
        # A job already waiting for it is enough.
        if defer(ADVANCE_TASK, queueing_lock=f"publication:{publication_id}", publication_id=str(publication_id)):
            report.queued.append(str(publication_id))
    return report


# --- Plumbing -----------------------------------------------------------------------------------


def _transition(
    publication: Publication,
    *,
    allowed: tuple[str, ...],
    to: str,
    kind: str,
    source: str = Source.WORKER,
    payload: dict | None = None,
    extra_filter: Q | None = None,
    **changes,
) -> bool:
    rows = Publication.objects.filter(pk=publication.pk, status__in=allowed)
    if extra_filter is not None:
        rows = rows.filter(extra_filter)
    with transaction.atomic():
        won = rows.update(status=to, updated_at=timezone.now(), **changes) == 1
        if not won:
            return False
        record(publication, kind, source, **(payload or {}))
        publication.status = to
        for name, value in changes.items():
            setattr(publication, name, value)
        analytics.publication_transitioned(publication)
    return True
