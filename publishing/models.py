import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Publication(models.Model):
    """One render posted to one platform. At most one live publication per render and platform.

    `upload_url` (YouTube's session URI, TikTok's upload URL) and `publish_id` (TikTok) are stored
    before the first byte is sent: a run that dies resumes from them instead of posting again.
    """

    class Platform(models.TextChoices):
        YOUTUBE = "youtube", "YouTube Shorts"
        TIKTOK = "tiktok", "TikTok"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        QUEUED = "queued", "Queued"
        UPLOADING = "uploading", "Uploading"
        PROCESSING = "processing", "Processing"
        PUBLISHED = "published", "Published"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class FailureReason(models.TextChoices):
        AUTH = "auth", "Account not authorised"
        REJECTED = "rejected", "Rejected by the platform"
        ERROR = "error", "Error"

    class WaitingReason(models.TextChoices):
        QUOTA_EXCEEDED = "quota_exceeded", "Daily upload quota used up"
        UPLOAD_LIMIT_EXCEEDED = "upload_limit_exceeded", "The channel's upload limit reached"
        RATE_LIMITED = "rate_limited", "Rate limited"
        TOO_MANY_POSTS = "too_many_posts", "The platform's daily post cap reached"
        PLATFORM_UNAVAILABLE = "platform_unavailable", "The platform or Clerk did not answer"

    ACTIVE = (Status.SCHEDULED, Status.QUEUED, Status.UPLOADING, Status.PROCESSING)
    FINAL = (Status.PUBLISHED, Status.FAILED, Status.CANCELLED)
    # A publication in these states holds its render's slot on the platform.
    LIVE = (*ACTIVE, Status.PUBLISHED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="publications")
    render = models.ForeignKey("renders.RenderJob", on_delete=models.CASCADE, related_name="publications")
    platform = models.CharField(max_length=10, choices=Platform.choices)
    title = models.CharField(max_length=2200, blank=True)
    description = models.TextField(blank=True)
    privacy = models.CharField(max_length=30, help_text="The platform's own privacy level.")
    scheduled_at = models.DateTimeField(null=True, blank=True, help_text="When the post goes live; empty: now.")

    status = models.CharField(max_length=12, choices=Status.choices)
    failure_reason = models.CharField(max_length=10, choices=FailureReason.choices, blank=True)
    error_message = models.TextField(blank=True)
    waiting_reason = models.CharField(max_length=30, choices=WaitingReason.choices, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Advanced again at this time.")
    attempts = models.PositiveIntegerField(default=0, help_text="Failed attempts in a row.")

    upload_url = models.URLField(max_length=2000, blank=True, help_text="YouTube's session URI / TikTok's upload URL.")
    upload_started_at = models.DateTimeField(null=True, blank=True)
    publish_id = models.CharField(max_length=200, blank=True, help_text="TikTok's id of the post being made.")
    upload_size = models.BigIntegerField(null=True, blank=True)
    bytes_sent = models.BigIntegerField(default=0, help_text="Bytes the platform confirmed.")
    last_chunk_started_at = models.DateTimeField(
        null=True, blank=True, help_text="When the final chunk went out: the upload may be complete from then on."
    )
    account_name = models.CharField(max_length=200, blank=True, help_text="The channel or TikTok user posted to.")
    external_id = models.CharField(max_length=200, blank=True)
    external_url = models.URLField(max_length=500, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    requeued_at = models.DateTimeField(null=True, blank=True, help_text="When a retry last sent it back.")
    uploaded_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["owner", "-created_at", "id"], name="publication_owner_created"),
            models.Index(fields=["status", "next_attempt_at"], name="publication_status_next"),
        ]
        constraints = [
            # The database itself refuses a second post of a render to a platform, whoever asks.
            models.UniqueConstraint(
                fields=["render", "platform"],
                condition=Q(status__in=["scheduled", "queued", "uploading", "processing", "published"]),
                name="one_live_publication_per_render_platform",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} publication {self.pk} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class PublicationEvent(models.Model):
    """Append-only history of a publication: each step, wait, failure and admin action."""

    class Source(models.TextChoices):
        API = "api", "API"
        WORKER = "worker", "Worker"
        SCHEDULER = "scheduler", "Scheduler"
        ADMIN = "admin", "Admin"

    id = models.BigAutoField(primary_key=True)
    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=40)
    source = models.CharField(max_length=10, choices=Source.choices)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} ({self.source})"
