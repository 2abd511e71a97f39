import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


def render_output_path(job: "RenderJob", filename: str) -> str:
    return f"renders/{job.owner_id}/{job.pk}/{filename}"


class RenderPreset(models.Model):
    """A render recipe staff maintain: the Remotion composition, its defaults and the output format."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    composition_id = models.CharField(max_length=100, help_text="The Remotion composition to render.")
    default_props = models.JSONField(default=dict, blank=True, help_text="Layout defaults; the request overrides.")
    width = models.PositiveIntegerField(default=1080)
    height = models.PositiveIntegerField(default=1920)
    fps = models.PositiveIntegerField(default=30)
    codec = models.CharField(max_length=20, default="h264")
    is_active = models.BooleanField(default=True)
    feature_flag_key = models.CharField(
        max_length=100, blank=True, help_text="When set, only users with this feature flag on see and use it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(width__gte=16, height__gte=16, fps__gte=1), name="preset_sane_size"),
        ]

    def __str__(self) -> str:
        return self.name


class RenderJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RENDERING = "rendering", "Rendering"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class FailureReason(models.TextChoices):
        ERROR = "error", "Render error"
        TIMEOUT = "timeout", "Timed out"
        DISPATCH = "dispatch", "Could not start"
        CANCELLED = "cancelled", "Cancelled"

    class Backend(models.TextChoices):
        REMOTION_LAMBDA = "remotion_lambda", "Remotion Lambda"
        LOCAL = "local", "Local ffmpeg"

    ACTIVE = (Status.QUEUED, Status.RENDERING)
    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="render_jobs")
    # A deleted clip keeps its renders (and their outputs).
    clip = models.ForeignKey("clips.Clip", on_delete=models.SET_NULL, null=True, related_name="render_jobs")
    preset = models.ForeignKey(RenderPreset, on_delete=models.PROTECT, related_name="render_jobs")
    input_props = models.JSONField(help_text="The validated layout spec.")
    backend = models.CharField(max_length=20, choices=Backend.choices)

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    failure_reason = models.CharField(max_length=12, choices=FailureReason.choices, blank=True)
    error_message = models.TextField(blank=True)

    backend_render_id = models.CharField(
        max_length=100, unique=True, null=True, blank=True, help_text="The backend's id for the current attempt."
    )
    remotion_bucket = models.CharField(max_length=100, blank=True)
    progress = models.FloatField(default=0)
    cost = models.DecimalField(max_digits=10, decimal_places=6, null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Dispatch attempts.")

    created_at = models.DateTimeField(auto_now_add=True)
    requeued_at = models.DateTimeField(null=True, blank=True, help_text="When a retry last sent it back to the queue.")
    dispatched_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Not dispatched again before this.")
    finished_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField()

    output_file = models.FileField(upload_to=render_output_path, max_length=300, blank=True)
    output_url = models.URLField(max_length=1000, blank=True, help_text="Where the backend left the output.")

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["owner", "-created_at", "id"], name="renderjob_owner_created"),
            models.Index(fields=["status", "created_at"], name="renderjob_status_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(progress__gte=0, progress__lte=1), name="renderjob_progress_0_1"),
        ]

    def __str__(self) -> str:
        return f"Render {self.pk} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def render_seconds(self) -> float | None:
        """Wall time of the last attempt, from its dispatch (or queueing) to its end."""
        if self.finished_at is None:
            return None
        started = self.dispatched_at or self.requeued_at or self.created_at
        return round((self.finished_at - started).total_seconds(), 3)


class RenderEvent(models.Model):
    """Append-only history of a job. `delivery_key` makes a redelivered webhook land once."""

    class Source(models.TextChoices):
        API = "api", "API"
        WEBHOOK = "webhook", "Webhook"
        POLL = "poll", "Poll"
        WORKER = "worker", "Worker"
        ADMIN = "admin", "Admin"

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(RenderJob, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=40)
    source = models.CharField(max_length=10, choices=Source.choices)
    payload = models.JSONField(default=dict, blank=True)
    delivery_key = models.CharField(max_length=200, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} ({self.source})"


class RenderTemplate(models.Model):
    """A creator's saved render settings, and where to post the result: what automations apply to each clip.

    `props` is a layout spec without a clip (`"layout": "auto"` and captions allowed), checked again
    against each clip it renders. `publish` lists posts: [{"platform", "privacy", "title", "description"}],
    whose texts may hold {clip_title}, {game} and {broadcaster}.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="render_templates")
    name = models.CharField(max_length=100)
    preset = models.ForeignKey(RenderPreset, on_delete=models.PROTECT, related_name="templates")
    props = models.JSONField(default=dict, blank=True)
    publish = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_template_name_per_owner")]

    def __str__(self) -> str:
        return self.name
