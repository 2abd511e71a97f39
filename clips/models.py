import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

# The clip fields that mirror Helix, refreshed by every import.
HELIX_FIELDS = [
    "url",
    "embed_url",
    "broadcaster_id",
    "broadcaster_name",
    "creator_id",
    "creator_name",
    "video_id",
    "vod_offset",
    "game_id",
    "language",
    "title",
    "view_count",
    "clip_created_at",
    "thumbnail_url",
    "duration",
    "is_featured",
]


def clip_media_path(clip: "Clip", filename: str) -> str:
    return f"clips/{clip.owner_id}/{clip.pk}/{filename}"


class Clip(models.Model):
    class Source(models.TextChoices):
        TWITCH = "twitch", "Twitch"
        UPLOAD = "upload", "Upload"

    class MediaStatus(models.TextChoices):
        NONE = "none", "No file"
        DOWNLOADING = "downloading", "Downloading"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clips")
    source = models.CharField(max_length=10, choices=Source.choices)

    # Helix clip fields (empty for uploads).
    twitch_clip_id = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001 (NULL for uploads: never conflicts)
    url = models.URLField(max_length=500, blank=True)
    embed_url = models.URLField(max_length=500, blank=True)
    broadcaster_id = models.CharField(max_length=32, blank=True)
    broadcaster_name = models.CharField(max_length=100, blank=True)
    creator_id = models.CharField(max_length=32, blank=True)
    creator_name = models.CharField(max_length=100, blank=True)
    video_id = models.CharField(max_length=32, blank=True)
    vod_offset = models.IntegerField(null=True, blank=True)
    game_id = models.CharField(max_length=32, blank=True)
    language = models.CharField(max_length=16, blank=True)
    title = models.CharField(max_length=300, blank=True)
    view_count = models.PositiveIntegerField(default=0)
    clip_created_at = models.DateTimeField(help_text="When the clip was made (Twitch) or uploaded.")
    thumbnail_url = models.URLField(max_length=500, blank=True)
    duration = models.FloatField(default=0, help_text="Seconds, as Twitch reports it.")
    is_featured = models.BooleanField(default=False)

    # The video file in our storage.
    media_file = models.FileField(upload_to=clip_media_path, max_length=300, blank=True)
    media_status = models.CharField(max_length=12, choices=MediaStatus.choices, default=MediaStatus.NONE)
    media_error = models.TextField(blank=True)
    media_duration = models.FloatField(null=True, blank=True, help_text="Seconds, probed from the stored file.")
    media_width = models.PositiveIntegerField(null=True, blank=True)
    media_height = models.PositiveIntegerField(null=True, blank=True)
    media_size = models.BigIntegerField(null=True, blank=True)
    has_portrait = models.BooleanField(
        default=False, help_text="A native portrait version is stored in portrait_file (never the main file)."
    )
    portrait_file = models.FileField(
        upload_to=clip_media_path, max_length=300, blank=True, help_text="The native portrait version, if any."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # NULLs are distinct, so uploads never conflict; Twitch clips are unique per owner.
            models.UniqueConstraint(fields=["owner", "twitch_clip_id"], name="unique_twitch_clip_per_owner"),
        ]
        indexes = [
            models.Index(fields=["owner", "-clip_created_at", "id"], name="clip_owner_created"),
            models.Index(fields=["owner", "-view_count", "id"], name="clip_owner_views"),
            models.Index(fields=["owner", "-duration", "id"], name="clip_owner_duration"),
        ]
        ordering = ["-clip_created_at", "id"]

    def __str__(self) -> str:
        return self.title or str(self.pk)

    @property
    def seconds(self) -> float:
        """The clip's length: probed from the stored file when there is one, else as Twitch reports it."""
        return float(self.media_duration or self.duration or 0)


class ClipImport(models.Model):
    """One run importing a user's Twitch clips for a window, resumable from its saved progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clip_imports")
    since = models.DateTimeField()
    until = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    clips_seen = models.PositiveIntegerField(default=0)
    clips_created = models.PositiveIntegerField(default=0)
    clips_updated = models.PositiveIntegerField(default=0)
    pages_fetched = models.PositiveIntegerField(default=0)

    # Progress: everything before `window_start` is done; the window being walked ends at
    # `window_end`, and `cursor` is the Helix page cursor inside it.
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    cursor = models.TextField(blank=True, help_text="Helix's page cursor: opaque, of no documented length.")
    window_clips = models.PositiveIntegerField(default=0, help_text="Clips received so far in the current window.")

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When a run last claimed the import or saved a page: an active import silent for long has lost its worker.
    progress_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(status__in=["queued", "running"]), name="one_active_clip_import_per_user"
            ),
            models.CheckConstraint(condition=Q(since__lt=models.F("until")), name="clip_import_window_not_empty"),
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="clipimport_user_created")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Import {self.since:%Y-%m-%d} to {self.until:%Y-%m-%d} ({self.status})"


class Transcript(models.Model):
    """The clip's current transcript: a time for every word, recognised or typed by the creator."""

    class Status(models.TextChoices):
        PENDING = "pending", "Queued"
        RUNNING = "running", "Recognising"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        RECOGNISED = "recognised", "Recognised"
        EDITED = "edited", "Edited by the creator"

    ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clip = models.OneToOneField(Clip, on_delete=models.CASCADE, related_name="transcript")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.RECOGNISED)
    language = models.CharField(max_length=16, blank=True, help_text="ISO 639-1, as recognised or as set.")
    requested_language = models.CharField(max_length=16, blank=True, help_text="Empty: detect.")
    words = models.JSONField(default=list, blank=True, help_text='[{"text", "start", "end"}], seconds.')
    error = models.TextField(blank=True)
    provider = models.CharField(max_length=20, blank=True)
    audio_seconds = models.FloatField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Transcript of {self.clip} ({self.status})"


class TranscriptionRun(models.Model):
    """One recognition of a clip's audio: the usage the monthly limit counts, and its history."""

    id = models.BigAutoField(primary_key=True)
    transcript = models.ForeignKey(Transcript, on_delete=models.CASCADE, related_name="runs")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="transcription_runs")
    provider = models.CharField(max_length=20)
    audio_seconds = models.FloatField(help_text="The clip's length when requested; the recognised audio once run.")
    outcome = models.CharField(max_length=10, default="queued")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "created_at"], name="transcription_run_owner")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.provider} run of {self.audio_seconds:.0f} s ({self.outcome})"


def layout_still_path(suggestion: "LayoutSuggestion", filename: str) -> str:
    return clip_media_path(suggestion.clip, filename)


class LayoutSuggestion(models.Model):
    """The vertical layout detection suggests for a clip: where the facecam is, if there is one."""

    class Status(models.TextChoices):
        PENDING = "pending", "Queued"
        RUNNING = "running", "Detecting"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clip = models.OneToOneField(Clip, on_delete=models.CASCADE, related_name="layout_suggestion")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    layout = models.CharField(max_length=10, blank=True, help_text="split, fill or fit_blur")
    facecam = models.JSONField(null=True, blank=True, help_text="{x, y, width, height}, normalised; split only.")
    gameplay = models.JSONField(null=True, blank=True)
    focus = models.JSONField(null=True, blank=True, help_text="{x, y}: where a fill crop centres (a face).")
    confidence = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="Worker time the detection took.")
    still = models.FileField(upload_to=layout_still_path, max_length=300, blank=True, help_text="A frame, boxes drawn.")
    requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Layout of {self.clip} ({self.status})"

    def as_spec(self) -> dict:
        """The suggestion in the layout spec's terms, to render as it is."""
        return {"layout": self.layout, "facecam": self.facecam, "gameplay": self.gameplay, "focus": self.focus}
