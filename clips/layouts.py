"""Layout suggestions: where a clip's facecam is, so a split render needs no rectangles typed by hand.

Detection runs on the queue once a clip's media is ready (and again on request). A run holds
the suggestion's lock, so it is never live twice; any failure ends it `failed` with a reason.
"""

import logging
import time
from datetime import timedelta

from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clips import analytics
from clips.media import NotAVideo, frame_with_boxes
from clips.models import Clip, LayoutSuggestion
from clips.vision import detect_layout
from core.errors import Conflict
from core.locks import advisory_lock, update_rows_nobody_runs
from core.queue import defer
from core.workdirs import local_copy, work_folder

logger = logging.getLogger(__name__)

STALLED_AFTER = timedelta(minutes=30)
# A run holds the lock "RUN_LOCK:<id>" while it works; recovery fails only rows whose lock is free.
RUN_LOCK = "layout"
STILL_COLOURS = {"facecam": "yellow", "gameplay": "cyan"}


def layout_detection_request(*, clip: Clip) -> LayoutSuggestion:
    """Queue a detection of the clip's layout. 409 `media_not_ready` before its video is there."""
    if clip.media_status != Clip.MediaStatus.READY or not clip.media_file:
        raise Conflict("The clip's video is not ready: fetch or upload it first.", code="media_not_ready")
    with transaction.atomic():
        suggestion = LayoutSuggestion.objects.get_or_create(clip=clip)[0]
        # Never asked for yet, or not running: (re)start it. A running one is left to finish.
        startable = Q(requested_at__isnull=True) | ~Q(status__in=LayoutSuggestion.ACTIVE_STATUSES)
        if LayoutSuggestion.objects.filter(startable, pk=suggestion.pk).update(
            status=LayoutSuggestion.Status.PENDING, error="", requested_at=timezone.now(), finished_at=None
        ):
            defer("clips.tasks.detect_clip_layout", suggestion_id=str(suggestion.pk))
    suggestion.refresh_from_db()
    return suggestion


def layout_detect(*, suggestion_id: str) -> LayoutSuggestion | None:
    """Run one queued detection; at most one run of a suggestion is live."""
    with advisory_lock(f"{RUN_LOCK}:{suggestion_id}") as acquired:
        if not acquired:
            return None
        claimed = LayoutSuggestion.objects.filter(pk=suggestion_id, status=LayoutSuggestion.Status.PENDING).update(
            status=LayoutSuggestion.Status.RUNNING, started_at=timezone.now()
        )
        suggestion = LayoutSuggestion.objects.select_related("clip__owner").filter(pk=suggestion_id).first()
        if not claimed or suggestion is None:
            return suggestion
        started = time.monotonic()
        try:
            with work_folder("layout") as folder:
                source = local_copy(suggestion.clip.media_file, folder / "source")
                detected = detect_layout(source)
                still = _draw_still(source, folder / "still.png", detected, suggestion.clip)
                return _store(suggestion, detected, still=still, seconds=time.monotonic() - started)
        except Exception as exc:
            return _fail(suggestion, exc)


def _draw_still(source, target, detected: dict, clip: Clip):
    boxes = [(detected[name], colour) for name, colour in STILL_COLOURS.items() if detected.get(name)]
    middle = clip.seconds / 2
    return frame_with_boxes(source, target, at_seconds=middle, boxes=boxes)


def _store(suggestion: LayoutSuggestion, detected: dict, *, still, seconds: float) -> LayoutSuggestion:
    old_still = suggestion.still.name
    with still.open("rb") as image:
        suggestion.still.save(f"layout-{suggestion.pk}.png", File(image), save=False)
    with transaction.atomic():
        stored = LayoutSuggestion.objects.filter(pk=suggestion.pk, status=LayoutSuggestion.Status.RUNNING).update(
            status=LayoutSuggestion.Status.READY,
            layout=detected["layout"],
            facecam=detected.get("facecam"),
            gameplay=detected.get("gameplay"),
            focus=detected.get("focus"),
            confidence=detected.get("confidence"),
            seconds=round(seconds, 3),
            still=suggestion.still.name,
            error="",
            finished_at=timezone.now(),
        )
        suggestion.refresh_from_db()
        if stored:
            analytics.layout_detected(suggestion)
    if old_still and old_still != suggestion.still.name:
        suggestion.still.storage.delete(old_still)
    return suggestion


def _fail(suggestion: LayoutSuggestion, exc: Exception) -> LayoutSuggestion:
    if isinstance(exc, NotAVideo):
        message = "The clip's file has no video we can read."
    else:
        logger.exception("Layout detection of %s failed unexpectedly", suggestion.pk)
        message = f"Layout detection failed unexpectedly ({type(exc).__name__}). Try again."
    LayoutSuggestion.objects.filter(pk=suggestion.pk, status=LayoutSuggestion.Status.RUNNING).update(
        status=LayoutSuggestion.Status.FAILED, error=message, finished_at=timezone.now()
    )
    suggestion.refresh_from_db()
    return suggestion


def layout_suggestions_recover_stalled(*, older_than: timedelta = STALLED_AFTER) -> list[str]:
    """Fail detections whose worker died (running too long, nobody holding their lock), for a retry."""
    cutoff = timezone.now() - older_than
    stalled = LayoutSuggestion.objects.filter(status=LayoutSuggestion.Status.RUNNING, started_at__lt=cutoff)
    return update_rows_nobody_runs(
        stalled,
        lock_prefix=RUN_LOCK,
        status=LayoutSuggestion.Status.FAILED,
        error="The detection's worker stopped; ask for it again.",
        finished_at=timezone.now(),
    )
