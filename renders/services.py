"""Render jobs: creation, the state machine, dispatch with a concurrency cap, and reconciliation.

Every transition is one conditional UPDATE from the states it is allowed from, and
has effects only when it won: duplicate, late and out-of-order deliveries (webhook,
poll, worker) therefore change nothing twice.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from accounts.services import user_row_lock
from clips.models import Clip
from core.errors import ServiceError
from core.locks import advisory_lock
from core.queue import defer
from renders import analytics
from renders.backends import BackendError, RateLimited, get_backend
from renders.backends.base import StartOutcomeUnknown
from renders.backends.local import RenderInterrupted, render_job_locally
from renders.backends.remotion import WebhookKind, WebhookReport
from renders.layout import AUTO_LAYOUT
from renders.limits import render_limits_check
from renders.models import RenderEvent, RenderJob, RenderPreset
from renders.outputs import copy_output_into_storage
from renders.signals import render_transition
from renders.specs import render_spec_validate

logger = logging.getLogger(__name__)

Status = RenderJob.Status
Reason = RenderJob.FailureReason
Source = RenderEvent.Source

BACKOFF_BASE_SECONDS = 15
BACKOFF_MAX_SECONDS = 15 * 60
DISPATCH_TASK = "renders.tasks.dispatch_render"
MAX_UNCONFIRMED_STARTS = 2
UNCONFIRMED_MESSAGE = (
    "Lambda did not confirm the render twice; no webhook came either. Not starting a third: "
    "check the Remotion function (its timeouts and logs) before retrying."
)


class RenderError(ServiceError):
    """A render operation cannot be done."""


class DispatchOutcome(StrEnum):
    DISPATCHED = "dispatched"
    WAITING_FOR_SLOT = "waiting_for_slot"
    NOT_DUE = "not_due"
    RATE_LIMITED = "rate_limited"
    RETRYING = "retrying"
    FAILED = "failed"
    # The start may have begun a render: its webhook, or the reconcile's dispatch timeout, decides.
    OUTCOME_UNKNOWN = "outcome_unknown"


class WebhookOutcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    STALE_RENDER = "stale_render"
    UNKNOWN_RENDER = "unknown_render"


class PollOutcome(StrEnum):
    NOT_DISPATCHED = "not_dispatched"
    POLL_FAILED = "poll_failed"
    FAILED = "failed"
    SUCCEEDED = "succeeded"
    RENDERING = "rendering"


# --- Creation, cancel, retry ------------------------------------------------------------------


def render_job_create(*, owner: User, clip: Clip, preset: RenderPreset, input_props: dict) -> RenderJob:
    """Validate and record a queued job within the user's render limits, and queue its dispatch.

    `input_props` is the requested spec; the preset's defaults fill what it leaves out. The dispatch
    is deferred in the same transaction, so a rolled-back request queues nothing.
    """
    spec = render_spec_validate(clip=clip, preset=preset, props=input_props)
    with transaction.atomic():
        _lock_owner(owner.pk)
        render_limits_check(owner=owner, preset=preset, aspect=spec["aspect"])
        job = RenderJob.objects.create(
            owner=owner,
            clip=clip,
            preset=preset,
            input_props=spec,
            backend=settings.RENDER_BACKEND,
            deadline_at=timezone.now() + timedelta(minutes=settings.RENDER_DEADLINE_MINUTES),
        )
        _record(job, "created", Source.API, {"preset": preset.slug, "backend": job.backend})
        defer(DISPATCH_TASK, job_id=str(job.pk))
        auto_layout = {**preset.default_props, **input_props}.get("layout") == AUTO_LAYOUT
        analytics.render_requested(job, auto_layout=auto_layout)
    return job


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
    """Send a failed or cancelled job back to the queue, with a fresh deadline and attempt count.

    The job keeps its creation time; `requeued_at` records the retry. A stored output of the
    earlier attempt is deleted once the retry commits.
    """
    with transaction.atomic():
        # A retry is a new render: it counts against the user's limits like one.
        _lock_owner(job.owner_id)
        if job.status in (Status.FAILED, Status.CANCELLED):
            render_limits_check(owner=job.owner, preset=job.preset, aspect=job.input_props.get("aspect", "9:16"))
        earlier_output = RenderJob.objects.filter(pk=job.pk).values_list("output_file", flat=True).first()
        now = timezone.now()
        won = _transition(
            job,
            allowed=(Status.FAILED, Status.CANCELLED),
            to=Status.QUEUED,
            source=source,
            kind="retried",
            failure_reason="",
            error_message="",
            backend_render_id=None,
            remotion_bucket="",
            progress=0,
            attempts=0,
            dispatched_at=None,
            next_attempt_at=None,
            finished_at=None,
            last_polled_at=None,
            output_url="",
            output_file="",
            requeued_at=now,
            deadline_at=now + timedelta(minutes=settings.RENDER_DEADLINE_MINUTES),
        )
        if won:
            defer(DISPATCH_TASK, job_id=str(job.pk))
            if earlier_output:
                transaction.on_commit(lambda: default_storage.delete(earlier_output))
    return won


def _lock_owner(owner_id) -> None:
    # Serialises one user's concurrent requests, so two cannot both take the last render of the month.
    user_row_lock(user_id=owner_id)


# --- Transitions reported by backends (webhook, poll, worker) -----------------------------------


def render_mark_progress(*, job: RenderJob, progress: float) -> None:
    """Record progress; it only moves forward."""
    progress = min(max(float(progress), 0.0), 1.0)
    RenderJob.objects.filter(pk=job.pk, status=Status.RENDERING, progress__lt=progress).update(progress=progress)


def render_mark_succeeded(
    *,
    job: RenderJob,
    source: str,
    output_url: str = "",
    output_file: str = "",
    cost=None,
    payload: dict | None = None,
) -> bool:
    """Move an active job to succeeded. Returns False when another delivery got there first."""
    changes = {"output_file": output_file} if output_file else {}
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
        **changes,
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


def render_apply_webhook(*, report: WebhookReport) -> WebhookOutcome:
    """Apply a verified, parsed Remotion webhook once, whatever how often it is delivered."""
    job = _job_for_report(report)
    if job is None:
        logger.info("Remotion webhook for an unknown render %r", report.render_id)
        return WebhookOutcome.UNKNOWN_RENDER
    if report.render_id and _is_earlier_attempt(job, report.render_id):
        # A render the job does not track (an earlier attempt's, or from a start Lambda never confirmed):
        # it must not decide the job, but it was paid for.
        logger.info(
            "Ignoring a %s webhook from render %s; job %s tracks another", report.kind, report.render_id, job.pk
        )
        _record_orphan(job, report)
        return WebhookOutcome.STALE_RENDER
    with transaction.atomic():
        try:
            with transaction.atomic():
                RenderEvent.objects.create(
                    job=job,
                    kind=f"webhook_{report.kind}",
                    source=Source.WEBHOOK,
                    payload=report.payload,
                    delivery_key=f"remotion:{report.render_id or job.pk}:{report.kind}",
                )
        except IntegrityError:
            return WebhookOutcome.DUPLICATE
        if report.render_id and not job.backend_render_id:
            # The webhook beat the dispatch response: remember the render id now.
            RenderJob.objects.filter(pk=job.pk, backend_render_id__isnull=True).update(
                backend_render_id=report.render_id, remotion_bucket=report.bucket
            )
        if report.kind == WebhookKind.SUCCESS:
            won = render_mark_succeeded(job=job, source=Source.WEBHOOK, output_url=report.output_url, cost=report.cost)
        elif report.kind == WebhookKind.ERROR:
            won = render_mark_failed(job=job, source=Source.WEBHOOK, reason=Reason.ERROR, message=report.error_message)
        else:
            won = render_mark_failed(
                job=job, source=Source.WEBHOOK, reason=Reason.TIMEOUT, message="Remotion reported a timeout."
            )
    if not won:
        logger.info("Remotion %s webhook for job %s arrived after it was final (%s)", report.kind, job.pk, job.status)
    return WebhookOutcome.APPLIED if won else WebhookOutcome.IGNORED


def _is_earlier_attempt(job: RenderJob, render_id: str) -> bool:
    if job.backend_render_id:
        return job.backend_render_id != render_id
    if job.is_final:
        # Ended before any render reported back (e.g. failed after unconfirmed starts): it is no attempt's.
        return True
    # Not dispatched (again) yet: either this webhook beat the dispatch response (apply it), or it
    # comes from a render of an attempt before a retry, which the event log remembers.
    return job.events.filter(kind="dispatched", payload__render_id=render_id).exists()


def _record_orphan(job: RenderJob, report: WebhookReport) -> None:
    """Log a render the job does not track: it ran on Lambda all the same, and staff must see its cost."""
    cost = _decimal(report.cost)
    try:
        with transaction.atomic():
            RenderEvent.objects.create(
                job=job,
                kind="orphan_render",
                source=Source.WEBHOOK,
                payload={
                    "render_id": report.render_id,
                    "webhook": report.kind,
                    "cost": str(cost) if cost is not None else None,
                    "tracked_render_id": job.backend_render_id,
                },
                # Its own key: the webhook_* key of this render must stay free should it become tracked.
                delivery_key=f"remotion-orphan:{report.render_id}:{report.kind}",
            )
    except IntegrityError:
        pass  # a redelivery, recorded already


def _job_for_report(report: WebhookReport) -> RenderJob | None:
    if report.render_id:
        job = RenderJob.objects.filter(backend_render_id=report.render_id).first()
        if job:
            return job
    if report.job_id is None:
        return None
    return RenderJob.objects.filter(pk=report.job_id).first()


# --- Local renders ------------------------------------------------------------------------------


def render_run_locally(*, job_id: str, stop_requested: Callable[[], bool] = lambda: False) -> None:
    """The local backend's worker: render with ffmpeg, then report like a webhook would.

    At most one run of a job is live at a time: a run holds the job's lock on the database for
    as long as it renders, and a second run (the queue re-sent a job it thought stalled) finds
    it held and does nothing. A run asked to stop (`stop_requested`: its worker is shutting
    down) kills ffmpeg and queues the render again for another worker.
    """
    interrupted = False
    with advisory_lock(f"render-run:{job_id}") as acquired:
        if not acquired:
            logger.info("Render %s is already running elsewhere; this run does nothing", job_id)
            return
        job = RenderJob.objects.select_related("clip", "preset").filter(pk=job_id).first()
        if job is None or job.status != Status.RENDERING:
            return  # cancelled, finished or deleted meanwhile
        interrupted = _render_locally(job, stop_requested)
    if interrupted:
        # Queued only now that the lock is released: a worker picking it up at once must find it free.
        defer("renders.tasks.render_locally", job_id=job_id)


def _render_locally(job: RenderJob, stop_requested: Callable[[], bool]) -> bool:
    """Render and record the outcome. Returns True when the worker's stop interrupted it (to run again)."""

    def still_rendering(progress: float) -> bool:
        render_mark_progress(job=job, progress=progress)
        return RenderJob.objects.filter(pk=job.pk, status=Status.RENDERING).exists()

    try:
        output_name = render_job_locally(job, on_progress=still_rendering, should_stop=stop_requested)
    except RenderInterrupted:
        if not stop_requested():
            return False  # the job ended meanwhile (cancelled, timed out): nothing to render
        _record(job, "interrupted", Source.WORKER, {"reason": "worker shutting down; queued again"})
        return True
    except Exception as exc:
        # Whatever went wrong (ffmpeg, a vanished source file), the job must not stay rendering.
        if not isinstance(exc, BackendError):
            logger.exception("Local render of %s failed", job.pk)
        message = str(exc) if isinstance(exc, BackendError) else f"The render failed: {type(exc).__name__}"
        render_mark_failed(job=job, source=Source.WORKER, reason=Reason.ERROR, message=message)
        return False
    if not render_mark_succeeded(job=job, source=Source.WORKER, output_file=output_name):
        # Cancelled or timed out while ffmpeg ran: the file belongs to no job, and the
        # job's own output (if another run recorded one) is never replaced.
        default_storage.delete(output_name)
    return False


# --- Dispatch -----------------------------------------------------------------------------------


def render_dispatch(*, job_id: str) -> DispatchOutcome:
    """Start one queued job on its backend, if a slot is free. Returns what happened."""
    with transaction.atomic():
        # One dispatcher at a time counts the slots, so the cap holds with many workers.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('renders.dispatch'))")
        if RenderJob.objects.filter(status=Status.RENDERING).count() >= settings.RENDER_MAX_CONCURRENT:
            return DispatchOutcome.WAITING_FOR_SLOT  # dispatched when a running job finishes
        claimed = (
            RenderJob.objects.filter(pk=job_id, status=Status.QUEUED)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
            .update(status=Status.RENDERING, dispatched_at=timezone.now(), attempts=_plus_one())
        )
    if not claimed:
        return DispatchOutcome.NOT_DUE
    job = RenderJob.objects.select_related("preset", "clip").get(pk=job_id)
    _record(job, "dispatching", Source.WORKER, {"attempt": job.attempts})
    try:
        started = get_backend(job.backend).start(job)
    except StartOutcomeUnknown as exc:
        # Not requeued: a second start now could be a second paid render. The job keeps its slot and
        # its dispatched_at, so renders_reconcile starts it again only after the dispatch timeout.
        _record(job, "dispatch_outcome_unknown", Source.WORKER, {"attempt": job.attempts, "error": str(exc)[:500]})
        return DispatchOutcome.OUTCOME_UNKNOWN
    except RateLimited as exc:
        delay = _backoff(job.attempts)
        _requeue(job, delay=delay, message=str(exc))
        defer(DISPATCH_TASK, delay_seconds=delay, job_id=str(job.pk))
        return DispatchOutcome.RATE_LIMITED
    except BackendError as exc:
        if job.attempts < settings.RENDER_MAX_DISPATCH_ATTEMPTS and exc.retryable:
            delay = _backoff(job.attempts)
            _requeue(job, delay=delay, message=str(exc))
            defer(DISPATCH_TASK, delay_seconds=delay, job_id=str(job.pk))
            return DispatchOutcome.RETRYING
        render_mark_failed(job=job, source=Source.WORKER, reason=Reason.DISPATCH, message=str(exc))
        return DispatchOutcome.FAILED
    RenderJob.objects.filter(pk=job.pk, backend_render_id__isnull=True).update(
        backend_render_id=started.render_id, remotion_bucket=started.bucket
    )
    _record(job, "dispatched", Source.WORKER, {"render_id": started.render_id, "bucket": started.bucket})
    return DispatchOutcome.DISPATCHED


def renders_dispatch_waiting() -> int:
    """Queue dispatches for as many due, queued jobs as there are free slots. Returns how many."""
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
        defer(DISPATCH_TASK, queueing_lock=f"dispatch_render:{job_id}", job_id=job_id)
    return len(job_ids)


def _requeue(job: RenderJob, *, delay: int, message: str) -> None:
    RenderJob.objects.filter(pk=job.pk, status=Status.RENDERING, backend_render_id__isnull=True).update(
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
    unconfirmed: list[str] = field(default_factory=list)
    dispatches_queued: int = 0

    def __str__(self) -> str:
        return (
            f"polled {len(self.polled)}, re-queued {len(self.requeued)}, timed out {len(self.timed_out)}, "
            f"failed unconfirmed {len(self.unconfirmed)}, dispatches queued {self.dispatches_queued}"
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
        backend_render_id__isnull=True,
        dispatched_at__lt=now - timedelta(seconds=settings.RENDER_DISPATCH_TIMEOUT_SECONDS),
    )
    for job in stuck_dispatch:
        if _unconfirmed_starts(job) >= MAX_UNCONFIRMED_STARTS:
            # Each unconfirmed start may be a render Lambda bills; a third could be a third one.
            report.unconfirmed.append(str(job.pk))
            if not dry_run:
                render_mark_failed(job=job, source=Source.POLL, reason=Reason.DISPATCH, message=UNCONFIRMED_MESSAGE)
            continue
        report.requeued.append(str(job.pk))
        if not dry_run:
            _requeue(job, delay=0, message="The dispatch never reported back.")

    silent = RenderJob.objects.filter(
        status=Status.RENDERING,
        backend_render_id__isnull=False,
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


def _unconfirmed_starts(job: RenderJob) -> int:
    """Starts Lambda never confirmed since the job was last retried (a retry gets a fresh allowance)."""
    events = job.events.filter(kind="dispatch_outcome_unknown")
    if job.requeued_at:
        events = events.filter(created_at__gte=job.requeued_at)
    return events.count()


def render_poll(*, job: RenderJob, source: str = Source.POLL) -> PollOutcome:
    """Ask the backend how a rendering job is doing and apply the answer."""
    RenderJob.objects.filter(pk=job.pk).update(last_polled_at=timezone.now())
    if not job.backend_render_id:
        return PollOutcome.NOT_DISPATCHED
    try:
        progress = get_backend(job.backend).progress(job)
    except BackendError as exc:
        logger.warning("Polling render %s failed: %s", job.pk, exc)
        return PollOutcome.POLL_FAILED
    if progress.fatal:
        render_mark_failed(job=job, source=source, reason=Reason.ERROR, message=progress.error_message)
        return PollOutcome.FAILED
    if progress.done:
        render_mark_succeeded(job=job, source=source, output_url=progress.output_url, cost=progress.cost)
        return PollOutcome.SUCCEEDED
    render_mark_progress(job=job, progress=progress.progress)
    return PollOutcome.RENDERING


# --- Output ---------------------------------------------------------------------------------


def render_output_copy(*, job_id: str) -> bool:
    """Copy a succeeded job's output from the backend's URL into our storage. Idempotent."""
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


def _decimal(value) -> Decimal | None:
    """A cost that fits the column (up to 9999.999999), else None."""
    try:
        cost = Decimal(str(value)).quantize(Decimal("0.000001")) if value is not None else None
    except (InvalidOperation, ValueError):
        return None
    return cost if cost is not None and 0 <= cost < 10_000 else None
