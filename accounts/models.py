import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A CreatorSync user. Frontend users come from Clerk (`clerk_id`); staff may exist without one.

    For Clerk users, `username` is the Clerk id (Django needs a unique login name) and
    the profile fields below mirror Clerk, which owns them.
    """

    # Public ids in URLs are UUIDs, never guessable sequential integers.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clerk_id = models.CharField(max_length=64, unique=True, null=True, blank=True, help_text="Clerk user id (user_…)")
    clerk_username = models.CharField(max_length=150, blank=True, help_text="The username chosen in Clerk, if any.")
    image_url = models.URLField(max_length=1000, blank=True)
    clerk_updated_at = models.BigIntegerField(
        null=True, blank=True, help_text="Clerk's updated_at (ms) of the last applied profile, to ignore stale ones."
    )
    profile_synced_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the user was deleted in Clerk. Their data is kept."
    )

    def __str__(self) -> str:
        return self.email or self.clerk_username or self.username


class TwitchAccount(models.Model):
    """The Twitch account a user linked through Clerk (an external account of provider `oauth_twitch`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="twitch_account")
    twitch_user_id = models.CharField(max_length=32, help_text="Twitch's user id, the broadcaster id for Helix.")
    login = models.CharField(max_length=64, blank=True)
    display_name = models.CharField(max_length=64, blank=True)
    linked_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["twitch_user_id"]), models.Index(fields=["login"])]

    def __str__(self) -> str:
        return self.login or self.twitch_user_id


class WebhookDelivery(models.Model):
    """One received webhook message, recorded so a redelivery is acknowledged and not applied twice."""

    class Source(models.TextChoices):
        CLERK = "clerk", "Clerk"
        TWITCH = "twitch", "Twitch EventSub"

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied"
        STALE = "stale", "Ignored: older than what we have"
        IGNORED = "ignored", "Ignored: event type not handled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.CharField(max_length=20, choices=Source.choices)
    delivery_id = models.CharField(
        max_length=128, help_text="The sender's message id (svix-id for Clerk, Twitch-Eventsub-Message-Id for Twitch)."
    )
    event_type = models.CharField(max_length=64)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "delivery_id"], name="unique_webhook_delivery"),
        ]
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.source} {self.event_type} {self.delivery_id}"
