"""Templates, automations, and the runs that take each matching clip from import to posted short.

A run is one clip for one automation (the database refuses a second). Its steps follow each
other through the queue: a run waiting for a video, a transcript, a layout or a render checks
again later in a job of its own, never by sleeping. Each step's effect is stored together with
the run's progress, so a run that dies resumes without rendering or posting twice.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from automations import analytics
from automations.models import Automation, AutomationRun, Stream
from automations.streams import stream_of_clip
from clips.layouts import layout_detection_request
from clips.models import Clip, ClipImport, LayoutSuggestion, Transcript
from clips.services import clip_media_fetch_request
from clips.transcripts import transcript_request
from core.errors import Conflict, ServiceError
from core.locks import advisory_lock
from core.queue import defer
from publishing.models import Publication
from publishing.rules import InvalidPublication, post_settings_validate, youtube_title_problem
from publishing.services import publication_create
from renders.models import RenderJob, RenderPreset, RenderTemplate
from renders.services import render_job_create
from renders.specs import render_template_spec_validate
from renders.templates import (
    SAMPLE_VALUES,
    InvalidPlaceholder,
    fill_placeholders,
    placeholder_values,
    placeholders_check,
    template_render_props,
)

logger = logging.getLogger(__name__)

Step = AutomationRun.Step
RunStatus = AutomationRun.Status
ADVANCE_TASK = "automations.tasks.advance_automation_run"
# The texts of a template's post that may hold placeholders.
POST_TEXTS = ("title", "description")
CHECK_BASE_SECONDS = 15
CHECK_MAX_SECONDS = 5 * 60
DUE_TOLERANCE = timedelta(seconds=5)


class InvalidTemplate(ServiceError):
    default_code = "invalid_template"


class RunOutcome(StrEnum):
    BUSY = "busy"
    NOTHING_TO_DO = "nothing_to_do"
    NOT_DUE = "not_due"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LIMITED = "limited"


# --- Templates ----------------------------------------------------------------------------------


def template_validate(*, owner: User, preset: RenderPreset, props: object, publish: object) -> tuple[dict, list]:
    """Check a template exactly as a render request and a publication are checked (the same rules),
    its texts with sample values in the placeholders. Returns (props, publish)."""
    if isinstance(props, dict) and "title" in props:
        title = placeholders_check(props["title"])
        render_template_spec_validate(preset=preset, props={**props, "title": fill_placeholders(title, SAMPLE_VALUES)})
    props = render_template_spec_validate(preset=preset, props=props)
    if not isinstance(publish, list):
        raise InvalidTemplate("`publish` must be a list of posts.", details={"publish": ["Expected a list."]})
    posts = []
    for index, post in enumerate(publish):
        try:
            texts = {name: placeholders_check(post.get(name, "")) for name in POST_TEXTS}
            sample = {name: fill_placeholders(text, SAMPLE_VALUES) for name, text in texts.items()}
            checked = post_settings_validate(
                owner=owner,
                platform=post["platform"],
                title=sample["title"],
                description=sample["description"],
                privacy=post.get("privacy", "public"),
                default_title=SAMPLE_VALUES["clip_title"],
            )
        except (InvalidPublication, InvalidPlaceholder) as exc:
            raise InvalidTemplate(str(exc), code=exc.code, details={"publish": {index: exc.details}}) from exc
        posts.append({"platform": post["platform"], "privacy": checked.privacy, **texts})
    return props, posts


def template_save(
    *,
    owner: User,
    name: str,
    preset: RenderPreset,
    props: object,
    publish: object,
    template: RenderTemplate | None = None,
) -> RenderTemplate:
    """Create (or, given `template`, update) a template once `template_validate` accepts it."""
    props, publish = template_validate(owner=owner, preset=preset, props=props, publish=publish)
    template = template or RenderTemplate(owner=owner)
    template.name, template.preset, template.props, template.publish = name, preset, props, publish
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError as exc:
        raise Conflict(f"You already have a template named {name!r}.", code="template_name_taken") from exc
    return template


def automation_save(*, owner: User, automation: Automation | None = None, **fields) -> Automation:
    """Create or change an automation. Turning it on (again) starts it from now: clips made before are left alone."""
    if automation is None:
        return Automation.objects.create(owner=owner, **fields)
    if fields.get("enabled") and not automation.enabled:
        fields["active_since"] = timezone.now()
    for name, value in fields.items():
        setattr(automation, name, value)
    automation.save()
    return automation


def template_delete(*, template: RenderTemplate) -> None:
    if template.automations.exists():
        raise Conflict("Automations use this template: change or delete them first.", code="template_in_use")
    template.delete()


# --- Matching -------------------------------------------------------------------------------------


def automations_match_import(*, clip_import_id: str) -> list[str]:
    """Start a run for each clip of the import's window that an enabled automation wants. Returns run ids.

    Each clip runs at most once per automation; `max_per_stream` caps the runs of one stream,
    however many imports see it.
    """
    clip_import = ClipImport.objects.select_related("user").filter(pk=clip_import_id).first()
    if clip_import is None:
        return []
    automations = Automation.objects.filter(owner=clip_import.user, enabled=True).select_related("template")
    clips = Clip.objects.filter(
        owner=clip_import.user,
        source=Clip.Source.TWITCH,
        clip_created_at__gte=clip_import.since,
        clip_created_at__lte=clip_import.until,
    ).order_by("-view_count", "clip_created_at", "id")
    streams = list(
        Stream.objects.filter(user=clip_import.user, started_at__lte=clip_import.until).order_by("-started_at")[:50]
    )
    started = []
    for automation in automations:
        started += _match(automation, clips, streams, fallback_batch=f"import:{clip_import.pk}")
    return started


def _match(automation: Automation, clips, streams: list[Stream], *, fallback_batch: str) -> list[str]:
    # A backfill of old clips, or the clips of a time it was off, are not what an automation is for.
    wanted = clips.filter(view_count__gte=automation.min_views, clip_created_at__gte=automation.active_since)
    if automation.games:
        wanted = wanted.filter(game_id__in=[str(game) for game in automation.games])
    started = []
    with transaction.atomic():
        # One matcher per automation at a time, so two imports cannot both fill the last places.
        Automation.objects.select_for_update().filter(pk=automation.pk).first()
        taken = set(automation.runs.values_list("clip_id", flat=True))
        per_batch: dict[str, int] = {}
        for clip in wanted:
            if clip.pk in taken:
                continue
            stream = stream_of_clip(streams, clip.clip_created_at)
            batch = f"stream:{stream.pk}" if stream else fallback_batch
            if batch not in per_batch:
                per_batch[batch] = automation.runs.filter(batch=batch).count()
            if automation.max_per_stream is not None and per_batch[batch] >= automation.max_per_stream:
                continue
            run = AutomationRun.objects.create(automation=automation, clip=clip, stream=stream, batch=batch)
            per_batch[batch] += 1
            defer(ADVANCE_TASK, run_id=str(run.pk))
            started.append(str(run.pk))
    return started


# --- Runs -------------------------------------------------------------------------------------------


def automation_run_advance(*, run_id: str) -> RunOutcome:
    """Take a run as far as it can go now. Safe to run twice, or after a crash."""
    with advisory_lock(f"automation-run:{run_id}") as acquired:
        if not acquired:
            return RunOutcome.BUSY
        run = (
            AutomationRun.objects.select_related("automation__template__preset", "automation__owner", "clip", "render")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.is_final:
            return RunOutcome.NOTHING_TO_DO
        if run.next_check_at and run.next_check_at > timezone.now() + DUE_TOLERANCE:
            return RunOutcome.NOT_DUE
        try:
            return _advance(run)
        except ServiceError as exc:
            limited = exc.status in (403, 429)
            return _finish(run, status=RunStatus.LIMITED if limited else RunStatus.FAILED, error=str(exc))
        except Exception as exc:
            logger.exception("Automation run %s failed", run_id)
            return _finish(run, status=RunStatus.FAILED, error=f"Unexpected error: {type(exc).__name__}")


def _advance(run: AutomationRun) -> RunOutcome:
    template = run.automation.template
    clip = run.clip
    props = {**template.props}
    if run.step == Step.MEDIA:
        if clip.media_status == Clip.MediaStatus.FAILED:
            return _finish(
                run, status=RunStatus.FAILED, error=f"The clip's video could not be fetched: {clip.media_error}"
            )
        if clip.media_status != Clip.MediaStatus.READY:
            if clip.media_status == Clip.MediaStatus.NONE:
                clip_media_fetch_request(clip=clip)
            return _wait(run)
        _move(run, Step.TRANSCRIPT)
    if run.step == Step.TRANSCRIPT:
        if props.get("captions") and not _transcript_ready(clip):
            return _wait(run)
        _move(run, Step.LAYOUT)
    if run.step == Step.LAYOUT:
        if props.get("layout") == "auto" and not _layout_ready(clip):
            return _wait(run)
        _move(run, Step.RENDER)
    if run.step == Step.RENDER:
        if run.render is None:
            _start_render(run, props=template_render_props(template=template, clip=clip))
        if run.render.status in (RenderJob.Status.FAILED, RenderJob.Status.CANCELLED):
            return _finish(
                run, status=RunStatus.FAILED, error=f"The render {run.render.status}: {run.render.error_message}"
            )
        if run.render.status != RenderJob.Status.SUCCEEDED:
            return _wait(run)
        _move(run, Step.PUBLISH)
    if run.automation.publish:
        _publish(run, template)
    _move(run, Step.DONE)
    return _finish(run, status=RunStatus.SUCCEEDED)


def _transcript_ready(clip: Clip) -> bool:
    transcript = Transcript.objects.filter(clip=clip).first()
    return _ready(transcript, Transcript.Status, what="transcription", request=partial(transcript_request, clip=clip))


def _layout_ready(clip: Clip) -> bool:
    suggestion = LayoutSuggestion.objects.filter(clip=clip).first()
    return _ready(
        suggestion,
        LayoutSuggestion.Status,
        what="layout detection",
        request=partial(layout_detection_request, clip=clip),
    )


def _ready(row, statuses, *, what: str, request: Callable[[], object]) -> bool:
    """Whether a clip's transcript or layout suggestion (`row`) is ready; asks for one never asked for."""
    if row is not None and row.status == statuses.READY:
        return True
    if row is not None and row.status == statuses.FAILED:
        raise ServiceError(f"The clip's {what} failed: {row.error}", code=f"{what.split()[0]}_failed")
    if row is None or row.requested_at is None:
        request()
    return False


def _start_render(run: AutomationRun, *, props: dict) -> None:
    with transaction.atomic():
        # The job and the run's link to it commit together: a run that dies never renders twice.
        job = render_job_create(
            owner=run.automation.owner, clip=run.clip, preset=run.automation.template.preset, input_props=props
        )
        AutomationRun.objects.filter(pk=run.pk, render__isnull=True).update(render=job, updated_at=timezone.now())
    run.render = job


def _publish(run: AutomationRun, template: RenderTemplate) -> None:
    """One publication per target of the template; a target already posted (by an earlier run of this
    step) is found, not posted again."""
    ids = list(run.publication_ids)
    posts = template.publish[len(ids) :]
    values = placeholder_values(run.clip, texts=[post.get(name, "") for post in posts for name in POST_TEXTS])
    for post in posts:
        title = _fit_title(post["platform"], fill_placeholders(post.get("title", ""), values) or run.clip.title)
        try:
            publication = publication_create(
                owner=run.automation.owner,
                render=run.render,
                platform=post["platform"],
                title=title,
                description=fill_placeholders(post.get("description", ""), values),
                privacy=post.get("privacy", "public"),
            )
        except Conflict as exc:
            if exc.code != "already_published":
                raise
            publication = Publication.objects.filter(
                render=run.render, platform=post["platform"], status__in=Publication.LIVE
            ).first()
        ids.append(str(publication.pk) if publication else None)
        AutomationRun.objects.filter(pk=run.pk).update(publication_ids=ids, updated_at=timezone.now())
        run.publication_ids = ids


def _fit_title(platform: str, title: str) -> str:
    """A clip title can break YouTube's rules: drop what YouTube refuses rather than the whole post."""
    if platform == "youtube" and youtube_title_problem(title):
        title = title.replace("<", "").replace(">", "")[:100].strip()
    return title


def _move(run: AutomationRun, step: str) -> None:
    AutomationRun.objects.filter(pk=run.pk).update(step=step, checks=0, next_check_at=None, updated_at=timezone.now())
    run.step, run.checks = step, 0


def _wait(run: AutomationRun) -> RunOutcome:
    if run.updated_at and run.updated_at < timezone.now() - timedelta(hours=settings.AUTOMATION_STEP_TIMEOUT_HOURS):
        return _finish(run, status=RunStatus.FAILED, error=f"Gave up waiting at the {run.step} step.")
    delay = min(CHECK_MAX_SECONDS, CHECK_BASE_SECONDS * 2**run.checks)
    # updated_at is left alone: it marks when the step began, for the timeout above.
    AutomationRun.objects.filter(pk=run.pk).update(
        checks=run.checks + 1, next_check_at=timezone.now() + timedelta(seconds=delay)
    )
    defer(ADVANCE_TASK, delay_seconds=delay, run_id=str(run.pk))
    return RunOutcome.WAITING


def _finish(run: AutomationRun, *, status: str, error: str = "") -> RunOutcome:
    with transaction.atomic():
        # Locked first, so of two runs of a batch finishing together exactly one sees the batch done.
        Automation.objects.select_for_update().filter(pk=run.automation_id).first()
        won = AutomationRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=status, error=error[:2000], finished_at=timezone.now(), next_check_at=None, updated_at=timezone.now()
        )
        batch = AutomationRun.objects.filter(automation_id=run.automation_id, batch=run.batch)
        if won and not batch.filter(status=RunStatus.RUNNING).exists():
            analytics.automation_batch_finished(automation=run.automation, batch=run.batch, runs=list(batch))
    run.status = status
    return RunOutcome(status)


def runs_overdue(*, older_than: timedelta) -> Q:
    """Running runs whose check is overdue by `older_than`, or that made no progress that long without one."""
    cutoff = timezone.now() - older_than
    return Q(status=RunStatus.RUNNING) & (
        Q(next_check_at__lt=cutoff) | Q(next_check_at__isnull=True, updated_at__lt=cutoff)
    )


def automation_runs_recover(*, older_than: timedelta = timedelta(minutes=10)) -> list[str]:
    """Queue again the runs whose check is long overdue (its job lost, or its worker died)."""
    overdue = AutomationRun.objects.filter(runs_overdue(older_than=older_than))
    run_ids = [str(pk) for pk in overdue.values_list("pk", flat=True)]
    for run_id in run_ids:
        defer(ADVANCE_TASK, queueing_lock=f"automation-run:{run_id}", run_id=run_id)
    return run_ids


def automation_runs_of(*, automation: Automation):
    return automation.runs.select_related("clip", "render").order_by("-created_at", "id")


def automation_runs_queue_now(*, runs) -> int:
    """Check the running ones of `runs` now, whatever they wait for (staff, after fixing it)."""
    run_ids = [str(pk) for pk in runs.filter(status=RunStatus.RUNNING).values_list("pk", flat=True)]
    AutomationRun.objects.filter(pk__in=run_ids).update(next_check_at=None)
    for run_id in run_ids:
        defer(ADVANCE_TASK, run_id=run_id)
    return len(run_ids)
