"""Render jobs: creation, the state machine, dispatch with a concurrency cap, and reconciliation.

Every transition is one conditional UPDATE from the states it is allowed from, and
has effects only when it won: duplicate, late and out-of-order deliveries (webhook,
poll, worker) therefore change nothing twice.
"""

import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from procrastinate.exceptions import AlreadyEnqueued

from accounts.models import User
from clips.models import Clip
from creatorsync.errors import ServiceError
from creatorsync.features import user_features
from integrations import posthog
from renders.backends import DispatchError, RateLimited, get_backend
from renders.layout import output_size
from renders.models import RenderEvent, RenderJob, RenderPreset
from renders.signals import render_transition

logger = logging.getLogger(__name__)

Status = RenderJob.Status
Reason = RenderJob.FailureReason
Source = RenderEvent.Source

BACKOFF_BASE_SECONDS = 15
BACKOFF_MAX_SECONDS = 15 * 60


class RenderError(ServiceError):
    """A render operation cannot be done."""


# --- Creation, cancel, retry ------------------------------------------------------------------


class RenderLimitExceeded(RenderError):
    """The user's plan (the render-limits flag payload) does not allow this render."""

    def __init__(self, message: str, *, code: str, details: dict):
        super().__init__(message, code=code)
        self.details = details


def render_job_create(*, owner: User, clip: Clip, preset: RenderPreset, input_props: dict) -> RenderJob:
    """Record a queued job, within the user's render limits; its dispatch is queued on commit (post_save)."""
    with transaction.atomic():
        # Serialises one user's concurrent requests, so two cannot both take the last render of the month.
        User.objects.select_for_update().filter(pk=owner.pk).first()
        render_limits_check(owner=owner, preset=preset, aspect=input_props.get("aspect", "9:16"))
        job = RenderJob.objects.create(
            owner=owner,
            clip=clip,
            preset=preset,
            input_props=input_props,
            backend=settings.RENDER_BACKEND,
            deadline_at=timezone.now() + timedelta(minutes=settings.RENDER_DEADLINE_MINUTES),
        )
        _record(job, "created", Source.API, {"preset": preset.slug, "backend": job.backend})
        posthog.capture_on_commit(
            "render requested",
            distinct_id=owner.clerk_id,
            properties={
                "job_id": str(job.pk),
                "clip_id": str(clip.pk),
                "clip_source": clip.source,
                "preset": preset.slug,
                "layout": input_props.get("layout"),
                "aspect": input_props.get("aspect"),
                "length_seconds": round(float(input_props["trim_end"]) - float(input_props["trim_start"]), 3),
                "has_title": bool(input_props.get("title")),
                "backend": job.backend,
            },
        )
    return job


def render_limits_check(*, owner: User, preset: RenderPreset, aspect: str) -> None:
    """Enforce the render-limits flag payload, e.g. {"monthly_renders": 30, "max_output_height": 1080}."""
    limits = user_features(owner).payload(settings.RENDER_LIMITS_FLAG)
    if not isinstance(limits, dict):
        return
    max_height = limits.get("max_output_height")
    if isinstance(max_height, int):
        _, height = output_size(preset_width=preset.width, preset_height=preset.height, aspect=aspect)
        if height > max_height:
            raise RenderLimitExceeded(
                f"Your plan renders up to {max_height}p; this preset and aspect render {height}p.",
                code="resolution_not_allowed",
                details={"max_output_height": max_height, "requested_output_height": height},
            )
    monthly = limits.get("monthly_renders")
    if isinstance(monthly, int):
        month_start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        resets_at = (month_start + timedelta(days=32)).replace(day=1)
        used = RenderJob.objects.filter(owner=owner, created_at__gte=month_start).exclude(status=Status.FAILED).count()
        if used >= monthly:
            raise RenderLimitExceeded(
                f"You have used all {monthly} renders of this month; the limit resets on {resets_at:%Y-%m-%d}.",
                code="render_limit_reached",
                details={"limit": monthly, "used": used, "resets_at": resets_at.isoformat()},
            )


def render_job_cancel(*, job: RenderJob, source: str = Source.API) -> bool:
    """Cancel a queued or rendering job. A render already running on Lambda finishes but is ignored."""
    return _transition(
        job,
        allowed=RenderJob.ACTIVE,
        to=Status.CANCELLED,
        source=source,
        kind="cancelled",
        failure_reason=Reason.CANCELLED,
        finished_at=timezone.now(),
    )


def render_job_retry(*, job: RenderJob, source: str = Source.API) -> bool:
    """Send a failed or cancelled job back to the queue, with a fresh deadline and attempt count."""
    from renders.tasks import dispatch_render

    with transaction.atomic():
        # A retry is a new render: it counts against the user's limits like one.
        User.objects.select_for_update().filter(pk=job.owner_id).first()
        if job.status in (Status.FAILED, Status.CANCELLED):
            render_limits_check(owner=job.owner, preset=job.preset, aspect=job.input_props.get("aspect", "9:16"))
        won = _transition(
            job,
            allowed=(Status.FAILED, Status.CANCELLED),
            to=Status.QUEUED,
            source=source,
            kind="retried",
            failure_reason="",
            error_message="",
            remotion_render_id=None,
            remotion_bucket="",
            progress=0,
            attempts=0,
            dispatched_at=None,
            next_attempt_at=None,
            finished_at=None,
            last_polled_at=None,
            output_url="",
            output_file="",
            created_at=timezone.now(),
            deadline_at=timezone.now() + timedelta(minutes=settings.RENDER_DEADLINE_MINUTES),
        )
        if won:
            dispatch_render.defer(job_id=str(job.pk))
    return won


# --- Transitions reported by backends (webhook, poll, worker) -----------------------------------


def render_mark_progress(*, job: RenderJob, progress: float) -> None:
    """Record progress; it only moves forward."""
    progress = min(max(float(progress), 0.0), 1.0)
    RenderJob.objects.filter(pk=job.pk, status=Status.RENDERING, progress__lt=progress).update(progress=progress)


def render_mark_succeeded(
    *, job: RenderJob, source: str, output_url: str = "", cost=None, payload: dict | None = None
) -> bool:
    """Move an active job to succeeded. Returns False when another delivery got there first."""
    return _transition(
        job,
        allowed=RenderJob.ACTIVE,
        to=Status.SUCCEEDED,
        source=source,
        kind="succeeded",
        payload=payload,
        progress=1,
        output_url=output_url[:1000],
        cost=_decimal(cost),
        finished_at=timezone.now(),
    )


def render_mark_failed(
    *, job: RenderJob, source: str, reason: str, message: str = "", payload: dict | None = None
) -> bool:
    return _transition(
        job,
        allowed=RenderJob.ACTIVE,
        to=Status.FAILED,
        source=source,
        kind=f"failed_{reason}",
        payload=payload,
        failure_reason=reason,
        error_message=message[:2000],
        finished_at=timezone.now(),
    )


def render_apply_webhook(*, payload: dict) -> str:
    """Apply a verified Remotion webhook. Returns what happened: applied, duplicate, ignored, unknown_render."""
    job = _job_for_webhook(payload)
    if job is None:
        logger.info("Remotion webhook for an unknown render %r", payload.get("renderId"))
        return "unknown_render"
    kind = payload.get("type")
    render_id = str(payload.get("renderId") or "")
    if render_id and _is_earlier_attempt(job, render_id):
        # An earlier attempt's render (before a retry): it must not decide the current one.
        logger.info("Ignoring a %s webhook from render %s; job %s now tracks another", kind, render_id, job.pk)
        return "stale_render"
    with transaction.atomic():
        try:
            with transaction.atomic():
                RenderEvent.objects.create(
                    job=job,
                    kind=f"webhook_{kind}",
                    source=Source.WEBHOOK,
                    payload=payload,
                    delivery_key=f"remotion:{render_id or job.pk}:{kind}",
                )
        except IntegrityError:
            return "duplicate"
        if render_id and not job.remotion_render_id:
            # The webhook beat the dispatch response: remember the render id now.
            RenderJob.objects.filter(pk=job.pk, remotion_render_id__isnull=True).update(
                remotion_render_id=render_id, remotion_bucket=str(payload.get("bucketName") or "")[:100]
            )
        if kind == "success":
            won = render_mark_succeeded(
                job=job,
                source=Source.WEBHOOK,
                output_url=str(payload.get("outputUrl") or payload.get("outputFile") or ""),
                cost=(payload.get("costs") or {}).get("estimatedCost"),
            )
        elif kind == "error":
            won = render_mark_failed(
                job=job, source=Source.WEBHOOK, reason=Reason.ERROR, message=_first_error(payload.get("errors"))
            )
        elif kind == "timeout":
            won = render_mark_failed(
                job=job, source=Source.WEBHOOK, reason=Reason.TIMEOUT, message="Remotion reported a timeout."
            )
        else:
            return "ignored"
    if not won:
        logger.info("Remotion %s webhook for job %s arrived after it was final (%s)", kind, job.pk, job.status)
    return "applied" if won else "ignored"


def _is_earlier_attempt(job: RenderJob, render_id: str) -> bool:
    if job.remotion_render_id:
        return job.remotion_render_id != render_id
    # Not dispatched (again) yet: either this webhook beat the dispatch response (apply it), or it
    # comes from a render of an attempt before a retry, which the event log remembers.
    return job.events.filter(kind="dispatched", payload__render_id=render_id).exists()


def _job_for_webhook(payload: dict) -> RenderJob | None:
    render_id = payload.get("renderId")
    if isinstance(render_id, str) and render_id:
        job = RenderJob.objects.filter(remotion_render_id=render_id).first()
        if job:
            return job
    custom = payload.get("customData")
    job_id = custom.get("job") if isinstance(custom, dict) else None
    try:
        return RenderJob.objects.filter(pk=uuid.UUID(str(job_id))).first()
    except ValueError:
        return None


# --- Dispatch -----------------------------------------------------------------------------------


def render_dispatch(*, job_id: str) -> str:
    """Start one queued job on its backend, if a slot is free. Returns what happened."""
    from renders.tasks import dispatch_render

    with transaction.atomic():
        # One dispatcher at a time counts the slots, so the cap holds with many workers.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('renders.dispatch'))")
        if RenderJob.objects.filter(status=Status.RENDERING).count() >= settings.RENDER_MAX_CONCURRENT:
            return "waiting_for_slot"  # dispatched when a running job finishes
        claimed = (
            RenderJob.objects.filter(pk=job_id, status=Status.QUEUED)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
            .update(status=Status.RENDERING, dispatched_at=timezone.now(), attempts=_plus_one())
        )
    if not claimed:
        return "not_due"
    job = RenderJob.objects.select_related("preset", "clip").get(pk=job_id)
    _record(job, "dispatching", Source.WORKER, {"attempt": job.attempts})
    try:
        started = get_backend(job.backend).start(job)
    except RateLimited as exc:
        delay = _backoff(job.attempts)
        _requeue(job, delay=delay, message=str(exc))
        dispatch_render.configure(schedule_in={"seconds": delay}).defer(job_id=str(job.pk))
        return "rate_limited"
    except DispatchError as exc:
        if job.attempts < settings.RENDER_MAX_DISPATCH_ATTEMPTS and exc.retryable:
            delay = _backoff(job.attempts)
            _requeue(job, delay=delay, message=str(exc))
            dispatch_render.configure(schedule_in={"seconds": delay}).defer(job_id=str(job.pk))
            return "retrying"
        render_mark_failed(job=job, source=Source.WORKER, reason=Reason.DISPATCH, message=str(exc))
        return "failed"
    RenderJob.objects.filter(pk=job.pk, remotion_render_id__isnull=True).update(
        remotion_render_id=started.render_id, remotion_bucket=started.bucket
    )
    _record(job, "dispatched", Source.WORKER, {"render_id": started.render_id, "bucket": started.bucket})
    return "dispatched"


def renders_dispatch_waiting() -> int:
    """Queue dispatches for as many due, queued jobs as there are free slots. Returns how many."""
    from renders.tasks import dispatch_render

    free = settings.RENDER_MAX_CONCURRENT - RenderJob.objects.filter(status=Status.RENDERING).count()
    if free <= 0:
        return 0
    due = (
        RenderJob.objects.filter(status=Status.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
        .order_by("created_at")
        .values_list("pk", flat=True)[:free]
    )
    job_ids = [str(pk) for pk in due]
    for job_id in job_ids:
        # One waiting dispatch per job is enough, however often this runs.
        with contextlib.suppress(AlreadyEnqueued), transaction.atomic():
            dispatch_render.configure(queueing_lock=f"dispatch_render:{job_id}").defer(job_id=job_id)
    return len(job_ids)


def _requeue(job: RenderJob, *, delay: int, message: str) -> None:
    RenderJob.objects.filter(pk=job.pk, status=Status.RENDERING, remotion_render_id__isnull=True).update(
        status=Status.QUEUED, next_attempt_at=timezone.now() + timedelta(seconds=delay), dispatched_at=None
    )
    _record(job, "dispatch_deferred", Source.WORKER, {"retry_in_seconds": delay, "reason": message[:500]})


def _backoff(attempt: int) -> int:
    return min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0))


def _plus_one() -> F:
    return F("attempts") + 1


# --- Reconciliation (the backstop) -----------------------------------------------------------


@dataclass
class ReconcileReport:
    polled: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)
    dispatches_queued: int = 0

    def __str__(self) -> str:
        return (
            f"polled {len(self.polled)}, re-queued {len(self.requeued)}, timed out {len(self.timed_out)}, "
            f"dispatches queued {self.dispatches_queued}"
        )


def renders_reconcile(*, dry_run: bool = False) -> ReconcileReport:
    """Bring every non-final job closer to a final state. Idempotent; safe to run every minute."""
    now = timezone.now()
    report = ReconcileReport()

    for job in RenderJob.objects.filter(status__in=RenderJob.ACTIVE, deadline_at__lt=now):
        report.timed_out.append(str(job.pk))
        if not dry_run:
            render_mark_failed(
                job=job, source=Source.POLL, reason=Reason.TIMEOUT, message="The render did not finish in time."
            )

    stuck_dispatch = RenderJob.objects.filter(
        status=Status.RENDERING,
        remotion_render_id__isnull=True,
        dispatched_at__lt=now - timedelta(seconds=settings.RENDER_DISPATCH_TIMEOUT_SECONDS),
    )
    for job in stuck_dispatch:
        report.requeued.append(str(job.pk))
        if not dry_run:
            _requeue(job, delay=0, message="The dispatch never reported back.")

    silent = RenderJob.objects.filter(
        status=Status.RENDERING,
        remotion_render_id__isnull=False,
        dispatched_at__lt=now - timedelta(seconds=settings.RENDER_POLL_AFTER_SECONDS),
    ).filter(
        Q(last_polled_at__isnull=True)
        | Q(last_polled_at__lt=now - timedelta(seconds=settings.RENDER_POLL_INTERVAL_SECONDS))
    )
    for job in silent.select_related("preset"):
        report.polled.append(str(job.pk))
        if not dry_run:
            render_poll(job=job)

    if not dry_run:
        report.dispatches_queued = renders_dispatch_waiting()
    return report


def render_poll(*, job: RenderJob, source: str = Source.POLL) -> str:
    """Ask the backend how a rendering job is doing and apply the answer."""
    RenderJob.objects.filter(pk=job.pk).update(last_polled_at=timezone.now())
    if not job.remotion_render_id:
        return "not_dispatched"
    try:
        progress = get_backend(job.backend).progress(job)
    except DispatchError as exc:
        logger.warning("Polling render %s failed: %s", job.pk, exc)
        return "poll_failed"
    if progress.fatal:
        render_mark_failed(job=job, source=source, reason=Reason.ERROR, message=progress.error_message)
        return "failed"
    if progress.done:
        render_mark_succeeded(job=job, source=source, output_url=progress.output_url, cost=progress.cost)
        return "succeeded"
    render_mark_progress(job=job, progress=progress.progress)
    return "rendering"


# --- Output ---------------------------------------------------------------------------------


def render_output_copy(*, job_id: str) -> bool:
    """Copy a succeeded job's output from the backend's URL into our storage. Idempotent."""
    from renders.outputs import copy_output_into_storage

    job = RenderJob.objects.get(pk=job_id)
    if job.status != Status.SUCCEEDED or job.output_file or not job.output_url:
        return False
    copy_output_into_storage(job)
    _record(job, "output_copied", Source.WORKER, {"file": job.output_file.name})
    return True


# --- Plumbing -----------------------------------------------------------------------------------


def _transition(
    job: RenderJob,
    *,
    allowed: tuple[str, ...],
    to: str,
    source: str,
    kind: str,
    payload: dict | None = None,
    **changes,
) -> bool:
    with transaction.atomic():
        # Locked, so the signal reports the status this transition really left.
        previous = RenderJob.objects.select_for_update().filter(pk=job.pk).values_list("status", flat=True).first()
        won = RenderJob.objects.filter(pk=job.pk, status__in=allowed).update(status=to, **changes) == 1
        if not won:
            _record(job, f"ignored_{kind}", source, {"status": previous, **(payload or {})})
            return False
        _record(job, kind, source, payload or {})
        # The row now holds exactly these values: no need to read it back.
        job.status = to
        for name, value in changes.items():
            setattr(job, name, value)
        render_transition.send(
            sender=RenderJob, job=job, job_id=job.pk, old_status=previous, new_status=to, source=source
        )
    return True


def _record(job: RenderJob, kind: str, source: str, payload: dict) -> RenderEvent:
    return RenderEvent.objects.create(job=job, kind=kind, source=source, payload=payload)


def _first_error(errors) -> str:
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or "Remotion reported an error.")[:2000]
    return "Remotion reported an error."


def _decimal(value) -> Decimal | None:
    """A cost that fits the column (up to 9999.999999), else None."""
    try:
        cost = Decimal(str(value)).quantize(Decimal("0.000001")) if value is not None else None
    except (InvalidOperation, ValueError):
        return None
    return cost if cost is not None and 0 <= cost < 10_000 else None
