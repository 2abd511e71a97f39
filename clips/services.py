import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from procrastinate.contrib.django.models import ProcrastinateJob

from accounts.models import TwitchAccount, User
from accounts.selectors import user_has_twitch
from clips import analytics
from clips.layouts import layout_detection_request
from clips.media import NotAVideo, VideoInfo, probe_video
from clips.models import HELIX_FIELDS, Clip, ClipImport
from clips.signals import clip_import_finished
from core.errors import ServiceError
from core.locks import advisory_lock
from core.queue import defer
from core.workdirs import work_folder
from integrations.clerk import backend_api
from integrations.http import DownloadFailed, download_to_file
from integrations.twitch import TwitchClient, TwitchError

logger = logging.getLogger(__name__)

# Helix returns at most about 1,000 clips per query, whatever the paging.
HELIX_RESULT_CAP = 1000
MIN_WINDOW = timedelta(minutes=1)
DOWNLOAD_SCOPES = {"channel:manage:clips", "editor:manage:clips"}
RUN_IMPORT_TASK = "clips.tasks.run_clip_import"
STALLED_IMPORT_ERROR = "The import's worker stopped; resume it."
# PostgreSQL `integer` (IntegerField, PositiveIntegerField).
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class ClipError(ServiceError):
    """A clip operation cannot be done."""


class ClipTooLarge(ClipError):
    status = 413
    default_code = "too_large"


class ImportAlreadyRunning(ClipError):
    """`running` is the active import, when it could be read (it may have ended since it blocked this one)."""

    status = 409

    def __init__(self, running: ClipImport | None = None):
        super().__init__(
            "An import is already running for this account.",
            code="import_in_progress",
            details={"import_id": str(running.pk)} if running else None,
        )
        self.running = running


# --- Import ---------------------------------------------------------------------------------


def clip_import_start(
    *, user: User, since: datetime | None = None, until: datetime | None = None, enqueue: bool = True
) -> ClipImport:
    """Record an import of the user's Twitch clips for a window and queue it (on commit).

    With `enqueue=False` the caller runs it (the backfill command does, in-process).
    """
    if not user_has_twitch(user=user):
        raise ClipError("Link your Twitch account first.", code="twitch_not_linked")
    now = timezone.now()
    until = min(until or now, now)
    try:
        since = since or until - timedelta(days=settings.CLIP_IMPORT_DEFAULT_DAYS)
    except OverflowError as exc:
        raise ClipError("The window starts before the year 1.", code="invalid_window") from exc
    if since >= until:
        raise ClipError("`since` must be before `until` (and `until` not in the future).", code="invalid_window")
    try:
        with transaction.atomic():
            clip_import = ClipImport.objects.create(user=user, since=since, until=until)
            if enqueue:
                defer("clips.tasks.run_clip_import", clip_import_id=str(clip_import.pk))
    except IntegrityError as exc:
        if _constraint_violated(exc) != "one_active_clip_import_per_user":
            raise
        # The import that won the race may already have ended: the answer is still "one was running".
        running = ClipImport.objects.filter(user=user, status__in=ClipImport.ACTIVE_STATUSES).first()
        raise ImportAlreadyRunning(running) from exc
    return clip_import


def _constraint_violated(exc: IntegrityError) -> str | None:
    return getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)


def clip_import_resume(*, clip_import: ClipImport, enqueue: bool = True) -> bool:
    """Queue a failed import again; it continues from its saved progress. False if not resumable.

    With `enqueue=False` the caller runs it.
    """
    try:
        with transaction.atomic():
            # Fresh progress: recovery must not judge it stalled before its run has had time to start.
            resumed = ClipImport.objects.filter(pk=clip_import.pk, status=ClipImport.Status.FAILED).update(
                status=ClipImport.Status.QUEUED, error="", finished_at=None, progress_at=timezone.now()
            )
            if resumed and enqueue:
                defer("clips.tasks.run_clip_import", clip_import_id=str(clip_import.pk))
    except IntegrityError:
        return False  # another import of this user is active
    return bool(resumed)


def clip_import_run(
    *,
    clip_import_id: str,
    client: TwitchClient | None = None,
    on_progress: Callable[[ClipImport], None] | None = None,
) -> ClipImport:
    """Walk the import's window through Helix, one bulk upsert per page, saving progress as it goes.

    Safe to run again after a crash: it resumes from the saved window and cursor. Two runs of
    the same import (a retried job, a second backfill) never overlap: the second returns at once.
    """
    with advisory_lock(f"clip-import:{clip_import_id}") as acquired:
        if not acquired:
            return ClipImport.objects.get(pk=clip_import_id)
        return _run_claimed(clip_import_id, client, on_progress)


def _run_claimed(
    clip_import_id: str, client: TwitchClient | None, on_progress: Callable[[ClipImport], None] | None
) -> ClipImport:
    claimed = ClipImport.objects.filter(pk=clip_import_id, status__in=ClipImport.ACTIVE_STATUSES).update(
        status=ClipImport.Status.RUNNING, progress_at=timezone.now()
    )
    clip_import = ClipImport.objects.select_related("user__twitch_account").get(pk=clip_import_id)
    if not claimed:
        return clip_import  # finished or failed meanwhile
    if clip_import.started_at is None:
        clip_import.started_at = timezone.now()
    try:
        _walk_windows(clip_import, client or TwitchClient(), on_progress or (lambda _: None))
    except Exception as exc:
        # Whatever happened, the import must end: a `running` one would answer 409 to every new import.
        if isinstance(exc, TwitchError):
            message = str(exc)
        elif isinstance(exc, TwitchAccount.DoesNotExist):
            message = "The Twitch account was unlinked."
        else:
            logger.exception("Clip import %s failed unexpectedly", clip_import.pk)
            message = f"The import failed unexpectedly ({type(exc).__name__}). Resume it to continue where it stopped."
        logger.warning("Clip import %s failed: %s", clip_import.pk, message)
        # A resume continues from the last saved page, not from the one that failed half-way.
        clip_import.refresh_from_db(fields=PROGRESS_FIELDS)
        _finish(clip_import, status=ClipImport.Status.FAILED, error=message)
        return clip_import
    _finish(clip_import, status=ClipImport.Status.SUCCEEDED, error="")
    return clip_import


def _walk_windows(clip_import: ClipImport, client: TwitchClient, on_progress: Callable[[ClipImport], None]) -> None:
    broadcaster_id = clip_import.user.twitch_account.twitch_user_id
    default_window = timedelta(days=settings.CLIP_IMPORT_WINDOW_DAYS)
    if clip_import.window_start is None:
        clip_import.window_start = clip_import.since
        clip_import.window_end = min(clip_import.since + default_window, clip_import.until)
        clip_import.window_clips = 0

    while clip_import.window_start < clip_import.until:
        page = client.get_clips(
            broadcaster_id=broadcaster_id,
            started_at=clip_import.window_start,
            ended_at=clip_import.window_end,
            after=clip_import.cursor or None,
        )
        clip_import.pages_fetched += 1
        clip_import.window_clips += len(page.clips)
        window = clip_import.window_end - clip_import.window_start
        # A page's clips and the progress past it commit together, so a resume never skips or half-counts one.
        with transaction.atomic():
            if page.cursor and clip_import.window_clips >= HELIX_RESULT_CAP and window > MIN_WINDOW:
                # Helix would silently drop the rest of this window: walk its first half instead.
                clip_import.window_end = clip_import.window_start + window / 2
                clip_import.cursor = ""
                clip_import.window_clips = 0
            else:
                created, updated = clips_upsert_from_helix(
                    owner=clip_import.user, helix_clips=page.clips, existed_before=clip_import.started_at
                )
                # Clips this import already wrote (a window walked again after a split) count once.
                clip_import.clips_seen += created + updated
                clip_import.clips_created += created
                clip_import.clips_updated += updated
                clip_import.cursor = page.cursor or ""
                if not page.cursor:
                    _advance_window(clip_import, finished_window=window, default_window=default_window)
            _save_progress(clip_import)
        on_progress(clip_import)


def _advance_window(clip_import: ClipImport, *, finished_window: timedelta, default_window: timedelta) -> None:
    # A sparse window lets the next one grow back towards the default size.
    sparse = clip_import.window_clips < HELIX_RESULT_CAP // 4
    next_window = min(finished_window * 2, default_window) if sparse else finished_window
    clip_import.window_start = clip_import.window_end
    clip_import.window_end = min(clip_import.window_start + next_window, clip_import.until)
    clip_import.window_clips = 0


PROGRESS_FIELDS = [
    "window_start",
    "window_end",
    "window_clips",
    "cursor",
    "pages_fetched",
    "clips_seen",
    "clips_created",
    "clips_updated",
    "progress_at",
]


def _save_progress(clip_import: ClipImport) -> None:
    clip_import.progress_at = timezone.now()
    clip_import.save(update_fields=["started_at", *PROGRESS_FIELDS])


def _finish(clip_import: ClipImport, *, status: str, error: str) -> None:
    clip_import.status = status
    clip_import.error = error
    clip_import.finished_at = timezone.now()
    clip_import.save(update_fields=["status", "error", "finished_at", "started_at"])
    analytics.clip_import_finished(clip_import)
    clip_import_finished.send(sender=ClipImport, clip_import=clip_import)


def clip_imports_recover_stalled(*, older_than: timedelta | None = None, dry_run: bool = False) -> list[str]:
    """Fail the active imports whose worker died, so they can be resumed and no longer block new imports.

    Stalled means: no progress (or, never claimed, no creation) for `older_than` (default
    CLIP_IMPORT_STALLED_MINUTES), no job waiting to run it, and its run lock free. A live run holds
    that lock however long a page takes, so a slow import is never failed. Returns the import ids.
    """
    if older_than is None:
        older_than = timedelta(minutes=settings.CLIP_IMPORT_STALLED_MINUTES)
    cutoff = timezone.now() - older_than
    silent = ClipImport.objects.filter(status__in=ClipImport.ACTIVE_STATUSES).filter(
        Q(progress_at__lt=cutoff) | Q(progress_at__isnull=True, created_at__lt=cutoff)
    )
    recovered = []
    for clip_import in silent.select_related("user").order_by("created_at"):
        # Holding the lock also keeps a run from starting on it while it is judged.
        with advisory_lock(f"clip-import:{clip_import.pk}") as acquired:
            if not acquired or _import_job_waiting(clip_import):
                continue
            if dry_run or _fail_stalled(clip_import, still_silent=silent):
                recovered.append(str(clip_import.pk))
    return recovered


def _import_job_waiting(clip_import: ClipImport) -> bool:
    # A backlog, or a job procrastinate retried after its worker died: that job will run the import.
    return ProcrastinateJob.objects.filter(
        task_name=RUN_IMPORT_TASK, status="todo", args__clip_import_id=str(clip_import.pk)
    ).exists()


def _fail_stalled(clip_import: ClipImport, *, still_silent: QuerySet[ClipImport]) -> bool:
    # Conditional: a run that made progress since the candidates were listed is left alone.
    failed = still_silent.filter(pk=clip_import.pk).update(
        status=ClipImport.Status.FAILED, error=STALLED_IMPORT_ERROR, finished_at=timezone.now()
    )
    if failed:
        logger.warning("Clip import %s stalled (its worker stopped); marked failed to be resumed", clip_import.pk)
        clip_import.refresh_from_db()
        analytics.clip_import_finished(clip_import)
    return bool(failed)


def clips_upsert_from_helix(
    *, owner: User, helix_clips: list[dict], existed_before: datetime | None = None
) -> tuple[int, int]:
    """Insert or update one page of Helix clips with a single INSERT ... ON CONFLICT.

    Returns (created, updated), where updated counts only rows that existed before
    `existed_before` (the start of the import), not ones this import wrote itself.
    """
    by_id = {}  # Helix can repeat a clip
    for helix_clip in helix_clips:
        clip = _clip_from_helix(owner, helix_clip)
        if clip is not None:
            by_id[clip.twitch_clip_id] = clip
    if not by_id:
        return 0, 0
    existing = dict(
        Clip.objects.filter(owner=owner, twitch_clip_id__in=by_id).values_list("twitch_clip_id", "created_at")
    )
    Clip.objects.bulk_create(
        list(by_id.values()),
        update_conflicts=True,
        unique_fields=["owner", "twitch_clip_id"],
        update_fields=[*HELIX_FIELDS, "updated_at"],
    )
    updated = sum(1 for created_at in existing.values() if existed_before is None or created_at < existed_before)
    return len(by_id) - len(existing), updated


def _clip_from_helix(owner: User, data: object) -> Clip | None:
    """The clip a Helix object describes, cleaned to what PostgreSQL accepts (no NULs, nothing longer than its
    column, integers in range); None, logged, when it cannot be stored at all.

    One refused value would fail the page's single INSERT, and with it every other clip of the page.
    """
    if not isinstance(data, dict):
        logger.warning("Skipped a Helix clip that is not an object: %.200r", data)
        return None
    clip_id = _helix_text(data.get("id"))
    if not clip_id or "\x00" in clip_id or len(clip_id) > _max_length("twitch_clip_id"):
        logger.warning("Skipped Helix clip %.200r: its id cannot be stored.", clip_id)
        return None
    dropped: list[str] = []

    def exact(field: str) -> str:
        # Ids and URLs mean nothing truncated: one that cannot be stored is left empty.
        value = _helix_text(data.get(field))
        if "\x00" in value or len(value) > _max_length(field):
            dropped.append(field)
            return ""
        return value

    def prose(field: str) -> str:
        return _helix_text(data.get(field)).replace("\x00", "")[: _max_length(field)]

    vod_offset = _helix_integer(data.get("vod_offset"))
    clip = Clip(
        owner=owner,
        source=Clip.Source.TWITCH,
        twitch_clip_id=clip_id,
        url=exact("url"),
        embed_url=exact("embed_url"),
        broadcaster_id=exact("broadcaster_id"),
        broadcaster_name=prose("broadcaster_name"),
        creator_id=exact("creator_id"),
        creator_name=prose("creator_name"),
        video_id=exact("video_id"),
        vod_offset=vod_offset if vod_offset is not None and INT_MIN <= vod_offset <= INT_MAX else None,
        game_id=exact("game_id"),
        language=prose("language"),
        title=prose("title"),
        view_count=min(max(_helix_integer(data.get("view_count")) or 0, 0), INT_MAX),
        clip_created_at=_helix_moment(data.get("created_at")),
        thumbnail_url=exact("thumbnail_url"),
        duration=_helix_seconds(data.get("duration")),
        is_featured=bool(data.get("is_featured")),
    )
    if dropped:
        logger.warning("Helix clip %s: dropped %s, which cannot be stored.", clip_id, ", ".join(dropped))
    return clip


def _max_length(field: str) -> int:
    return Clip._meta.get_field(field).max_length


def _helix_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # an id sent as a number
    return ""


def _helix_integer(value: object) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _helix_seconds(value: object) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 0.0
    return seconds if math.isfinite(seconds) and seconds >= 0 else 0.0


def _helix_moment(value: object) -> datetime:
    try:
        moment = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but impossible, such as month 13
        moment = None
    if moment is None:
        return timezone.now()
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


# --- Media ----------------------------------------------------------------------------------


def clip_media_fetch_request(*, clip: Clip) -> Clip:
    """Queue the download of a Twitch clip's video (on commit). Idempotent while a download is running."""
    if clip.source != Clip.Source.TWITCH:
        raise ClipError("Only Twitch clips are downloaded; uploads already have their file.", code="not_a_twitch_clip")
    with transaction.atomic():
        started = (
            Clip.objects.filter(pk=clip.pk)
            .exclude(media_status=Clip.MediaStatus.DOWNLOADING)
            .update(media_status=Clip.MediaStatus.DOWNLOADING, media_error="")
        )
        if started:
            defer("clips.tasks.fetch_clip_media", clip_id=str(clip.pk))
    clip.refresh_from_db()
    return clip


def clip_media_fetch_requested(*, clip_id: str) -> Clip | None:
    """The queued download: it runs once per request, and never twice at once.

    A run that finds the clip no longer downloading (done, failed or deleted meanwhile), or
    another worker holding its lock (the queue re-sent a job it thought stalled), does nothing.
    """
    with advisory_lock(f"clip-media:{clip_id}") as acquired:
        if not acquired or not Clip.objects.filter(pk=clip_id, media_status=Clip.MediaStatus.DOWNLOADING).exists():
            return None
        return clip_media_fetch(clip_id=clip_id)


def clip_media_fetch(*, clip_id: str, client: TwitchClient | None = None) -> Clip:
    """Download a clip's video from Twitch into storage. Every failure becomes a clear `media_error`."""
    clip = Clip.objects.select_related("owner__twitch_account").get(pk=clip_id)
    try:
        download = _clip_download_urls(clip, client or TwitchClient())
        url = download.get("landscape_download_url") or download.get("portrait_download_url")
        if not url:
            raise ClipError("Twitch offers no downloadable file for this clip.", code="no_download_url")
        with work_folder("download") as folder:
            path = folder / "clip.mp4"
            _download(url, path)
            _store_media(clip, path, info=_probe(path), name=f"{clip.twitch_clip_id or clip.pk}.mp4")
            portrait_url = download.get("portrait_download_url")
            # A portrait-only clip's one file is its main file: there is no second, portrait version.
            stored = bool(portrait_url and portrait_url != url) and _store_portrait(
                clip, portrait_url, folder / "portrait.mp4"
            )
        if not stored:
            # `has_portrait` offers the portrait layout, which renders from `portrait_file`: never one without it.
            _drop_portrait(clip)
    except Exception as exc:
        if not isinstance(exc, ClipError):
            # Never leave a clip "downloading" forever: it could not be requested again.
            logger.exception("Media download for clip %s failed unexpectedly", clip.pk)
            exc = ClipError(f"The download failed unexpectedly ({type(exc).__name__}). Try again.", code="error")
        logger.info("Media download for clip %s failed: %s", clip.pk, exc)
        Clip.objects.filter(pk=clip.pk).update(media_status=Clip.MediaStatus.FAILED, media_error=str(exc))
        clip.refresh_from_db()
        analytics.clip_media_failed(clip, reason=exc.code)
        return clip
    analytics.clip_media_fetched(clip)
    layout_detection_request(clip=clip)  # every clip whose media is ready gets a layout suggestion
    return clip


def _clip_download_urls(clip: Clip, client: TwitchClient) -> dict:
    try:
        twitch_account = clip.owner.twitch_account
    except TwitchAccount.DoesNotExist as exc:
        raise ClipError("Link your Twitch account first.", code="twitch_not_linked") from exc
    try:
        token = backend_api.get_oauth_access_token(clip.owner.clerk_id, "oauth_twitch")
    except backend_api.ClerkAPIError as exc:
        raise ClipError(
            f"Could not get your Twitch authorization from Clerk ({exc.code}). Reconnect Twitch and try again.",
            code="twitch_token_unavailable",
        ) from exc
    scopes = set(token.get("scopes") or [])
    if not scopes & DOWNLOAD_SCOPES:
        raise ClipError(
            "Twitch did not grant clip downloads: reconnect Twitch allowing the channel:manage:clips permission.",
            code="missing_scope",
        )
    try:
        return client.get_clip_downloads(
            user_token=token["token"],
            editor_id=twitch_account.twitch_user_id,
            broadcaster_id=clip.broadcaster_id or twitch_account.twitch_user_id,
            clip_id=clip.twitch_clip_id,
        )
    except TwitchError as exc:
        if exc.code == "forbidden":
            raise ClipError(
                "Twitch refused the download: you are not the broadcaster or an editor of this channel.",
                code="not_an_editor",
            ) from exc
        raise ClipError(f"Twitch download failed: {exc}", code=exc.code or "twitch_error") from exc


def _download(url: str, path: Path) -> None:
    limit = settings.CLIP_MAX_DOWNLOAD_BYTES
    try:
        download_to_file(url, path, timeout=settings.TWITCH_TIMEOUT_SECONDS, max_bytes=limit)
    except DownloadFailed as exc:
        if exc.code == "too_large":
            raise ClipTooLarge(f"The clip is larger than the {_size_label(limit)} limit.") from exc
        if exc.status:
            raise ClipError(
                f"The download link answered HTTP {exc.status}; it may have expired. Try again.",
                code="download_failed",
            ) from exc
        raise ClipError(f"The download failed ({exc}). Try again.", code="download_failed") from exc


def _store_portrait(clip: Clip, url: str, path: Path) -> bool:
    """Keep the native portrait version for the `portrait` layout. Best effort: the landscape file is what counts."""
    try:
        _download(url, path)
        _probe(path)
    except ClipError as exc:
        logger.info("Portrait version of clip %s not stored: %s", clip.pk, exc)
        return False
    old_name = clip.portrait_file.name
    with path.open("rb") as source:
        clip.portrait_file.save(f"{clip.twitch_clip_id or clip.pk}-portrait.mp4", File(source), save=False)
    clip.has_portrait = True
    Clip.objects.filter(pk=clip.pk).update(portrait_file=clip.portrait_file.name, has_portrait=True)
    if old_name and old_name != clip.portrait_file.name:
        clip.portrait_file.storage.delete(old_name)
    return True


def _drop_portrait(clip: Clip) -> None:
    """Forget a portrait version this fetch did not get: it would not match the new main file."""
    old_name = clip.portrait_file.name
    if not old_name and not clip.has_portrait:
        return
    clip.portrait_file.name, clip.has_portrait = "", False
    Clip.objects.filter(pk=clip.pk).update(portrait_file="", has_portrait=False)
    if old_name:
        clip.portrait_file.storage.delete(old_name)


def _probe(path: Path) -> VideoInfo:
    try:
        return probe_video(path)
    except NotAVideo as exc:
        raise ClipError("The file is not a video we can read.", code="not_a_video") from exc


def _store_media(clip: Clip, path: Path, *, info: VideoInfo, name: str) -> None:
    old_name = clip.media_file.name
    with path.open("rb") as source:
        clip.media_file.save(name, File(source), save=False)
    clip.media_status = Clip.MediaStatus.READY
    clip.media_error = ""
    clip.media_duration = info.duration
    clip.media_width = info.width
    clip.media_height = info.height
    clip.media_size = path.stat().st_size
    if clip._state.adding:
        clip.save()
        return
    clip.save(
        update_fields=[
            "media_file",
            "media_status",
            "media_error",
            "media_duration",
            "media_width",
            "media_height",
            "media_size",
        ]
    )
    if old_name and old_name != clip.media_file.name:
        clip.media_file.storage.delete(old_name)


# --- Uploads and deletion ---------------------------------------------------------------------


def clip_upload_create(*, owner: User, upload: UploadedFile, title: str = "") -> Clip:
    """Create an `upload` clip from a video file, after checking it really is a video within the size limit."""
    limit = settings.CLIP_MAX_UPLOAD_BYTES
    if upload.size > limit:
        raise ClipTooLarge(f"The file is larger than the {_size_label(limit)} limit.")
    with work_folder("upload") as folder:
        path = folder / "upload"
        with path.open("wb") as target:
            for chunk in upload.chunks():
                target.write(chunk)
        info = _probe(path)
        clip = Clip(
            owner=owner,
            source=Clip.Source.UPLOAD,
            title=(title or Path(upload.name or "").stem)[:300],
            clip_created_at=timezone.now(),
            duration=round(info.duration, 1),
        )
        _store_media(clip, path, info=info, name=f"{clip.pk}{_video_suffix(upload.name)}")
    layout_detection_request(clip=clip)
    return clip


VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".webm", ".mkv"}


def _video_suffix(filename: str | None) -> str:
    # The stored name never keeps a client's extension that a browser would treat as a page or script.
    suffix = Path(filename or "").suffix.lower()
    return suffix if suffix in VIDEO_SUFFIXES else ".mp4"


def _size_label(size: int) -> str:
    return f"{size / 2**20:.0f} MB" if size >= 2**20 else f"{size / 1024:.0f} KB"


def clip_delete(*, clip: Clip) -> None:
    """Delete a clip and, once the deletion is committed, its files (the video and its portrait version)."""
    files = [(file.storage, file.name) for file in (clip.media_file, clip.portrait_file) if file.name]
    clip.delete()
    for storage, name in files:
        # Robust: a storage hiccup must not turn the committed deletion into an error; it is logged.
        transaction.on_commit(lambda storage=storage, name=name: storage.delete(name), robust=True)
