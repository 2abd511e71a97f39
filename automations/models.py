import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class EventSubSubscription(models.Model):
    """One Twitch EventSub subscription of ours (webhook transport), as Twitch last reported it."""

    class Status(models.TextChoices):
        ENABLED = "enabled", "Enabled"
        PENDING = "webhook_callback_verification_pending", "Verification pending"
        VERIFICATION_FAILED = "webhook_callback_verification_failed", "Verification failed"
        NOTIFICATION_FAILURES = "notification_failures_exceeded", "Revoked: notification failures"
        AUTHORIZATION_REVOKED = "authorization_revoked", "Revoked: authorization"
        MODERATOR_REMOVED = "moderator_removed", "Revoked: moderator removed"
        USER_REMOVED = "user_removed", "Revoked: user removed"
        VERSION_REMOVED = "version_removed", "Revoked: version removed"
        DELETED = "deleted", "Deleted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="eventsub_subscriptions",
    )
    twitch_subscription_id = models.CharField(max_length=64, unique=True)
    type = models.CharField(max_length=64)
    broadcaster_user_id = models.CharField(max_length=32)
    status = models.CharField(max_length=64, choices=Status.choices)
    revocation_reason = models.CharField(max_length=64, blank=True)
    last_notification_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["broadcaster_user_id", "type"], name="eventsub_broadcaster_type")]
        verbose_name = "EventSub subscription"

    def __str__(self) -> str:
        return f"{self.type} for {self.broadcaster_user_id} ({self.status})"


class Stream(models.Model):
    """One live stream of a linked broadcaster, from stream.online to stream.offline."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="streams")
    broadcaster_user_id = models.CharField(max_length=32)
    twitch_stream_id = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    imports_queued = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["user", "-started_at"], name="stream_user_started")]

    def __str__(self) -> str:
        return f"Stream of {self.broadcaster_user_id} from {self.started_at:%Y-%m-%d %H:%M}"


class Automation(models.Model):
    """A creator's rule: each new clip that matches is rendered with the template, and posted if asked."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="automations")
    name = models.CharField(max_length=100)
    template = models.ForeignKey("renders.RenderTemplate", on_delete=models.PROTECT, related_name="automations")
    enabled = models.BooleanField(default=True)
    min_views = models.PositiveIntegerField(default=0)
    games = models.JSONField(default=list, blank=True, help_text="Twitch game ids; empty: any game.")
    max_per_stream = models.PositiveIntegerField(null=True, blank=True, help_text="The top N clips by views.")
    publish = models.BooleanField(default=False)
    active_since = models.DateTimeField(
        default=timezone.now, help_text="When it was last enabled: clips made before are left alone (no backlog)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return self.name


class AutomationRun(models.Model):
    """What an automation did with one clip: exactly one per automation and clip."""

    class Step(models.TextChoices):
        MEDIA = "media", "Fetching the video"
        TRANSCRIPT = "transcript", "Transcribing"
        LAYOUT = "layout", "Detecting the layout"
        RENDER = "render", "Rendering"
        PUBLISH = "publish", "Publishing"
        DONE = "done", "Done"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        LIMITED = "limited", "Stopped by a plan limit"

    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.LIMITED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="runs")
    clip = models.ForeignKey("clips.Clip", on_delete=models.CASCADE, related_name="automation_runs")
    stream = models.ForeignKey(Stream, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs")
    batch = models.CharField(max_length=100, help_text="The stream (or import) whose clips were matched together.")
    step = models.CharField(max_length=12, choices=Step.choices, default=Step.MEDIA)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    error = models.TextField(blank=True)
    render = models.ForeignKey(
        "renders.RenderJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="automation_runs"
    )
    publication_ids = models.JSONField(default=list, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    checks = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["automation", "clip"], name="one_run_per_automation_clip")]
        indexes = [models.Index(fields=["status", "next_check_at"], name="automationrun_status_next")]

    def __str__(self) -> str:
        return f"Run of {self.automation_id} on clip {self.clip_id} ({self.step}, {self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL
