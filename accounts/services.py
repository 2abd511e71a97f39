import contextlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from procrastinate.exceptions import AlreadyEnqueued

from accounts.models import TwitchAccount, User, WebhookDelivery
from integrations import posthog
from integrations.clerk import backend_api
from integrations.clerk.sessions import CLERK_USER_ID

logger = logging.getLogger(__name__)

TWITCH_PROVIDERS = {"oauth_twitch", "twitch"}

UpsertOutcome = Literal["created", "updated", "stale", "deleted"]


class InvalidWebhookPayload(ValueError):
    """Clerk data we cannot apply: a webhook answers 400, a sync skips the user."""


def local_superuser_ensure(*, username: str = "admin") -> str | None:
    """Create the first local superuser with a random password.

    Returns the password, to be shown once, or None when a superuser already exists.
    """
    if User.objects.filter(is_superuser=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(username=username, email="", password=password)
    return password


def user_get_or_provision(*, clerk_id: str) -> User:
    """The local user for a verified Clerk session, created on their first request.

    Only the request that creates the row fetches the profile from Clerk, so the
    Backend API is called at most once per user on the request path.
    """
    try:
        return User.objects.get(clerk_id=clerk_id)
    except User.DoesNotExist:
        pass
    # get_or_create survives a concurrent first request: the loser reads the winner's row.
    user, created = User.objects.get_or_create(clerk_id=clerk_id, defaults={"username": clerk_id})
    if created:
        _fetch_profile_on_first_request(user)
        user.refresh_from_db()
        _announce_signup(user, source="first_request")
    return user


def _fetch_profile_on_first_request(user: User) -> None:
    if not backend_api.is_configured():
        return
    try:
        clerk_profile_sync(clerk_id=user.clerk_id)
    except (backend_api.ClerkAPIError, InvalidWebhookPayload) as exc:
        # The user can work without a profile; the queue fills it in later.
        logger.warning("Could not fetch the Clerk profile of %s (%s); queued a retry", user.clerk_id, exc)
        from accounts.tasks import sync_clerk_profile

        with contextlib.suppress(AlreadyEnqueued):
            sync_clerk_profile.configure(queueing_lock=f"sync_clerk_profile:{user.clerk_id}").defer(
                clerk_id=user.clerk_id
            )


def clerk_profile_sync(*, clerk_id: str) -> UpsertOutcome:
    """Fetch one user's profile from the Clerk Backend API and apply it."""
    return clerk_user_upsert(data=backend_api.get_user(clerk_id), source="first_request")


@transaction.atomic
def clerk_user_upsert(*, data: dict, dry_run: bool = False, source: str = "webhook") -> UpsertOutcome:
    """Apply a Clerk user object (webhook payload or Backend API) to the local user.

    A payload older than the one already applied is ignored, since Clerk delivers
    webhooks out of order; a user deleted in Clerk stays deleted. Malformed fields
    are coerced or dropped rather than failing the whole delivery.
    """
    clerk_id = data.get("id")
    if not isinstance(clerk_id, str) or not CLERK_USER_ID.fullmatch(clerk_id):
        raise InvalidWebhookPayload("A Clerk user needs `id`, a Clerk user id.")
    incoming_updated_at = _milliseconds(data.get("updated_at"))
    user = User.objects.select_for_update().filter(clerk_id=clerk_id).first()
    outcome: UpsertOutcome = "created" if user is None else "updated"
    if user is None and not dry_run:
        user, created = _create_or_lock(clerk_id)
        outcome = "created" if created else "updated"
    if user is not None:
        skipped = _skip_reason(user, incoming_updated_at)
        if skipped:
            return skipped
    if dry_run:
        return outcome

    user.email = _primary_email(data)
    user.first_name = _text(data.get("first_name"), 150)
    user.last_name = _text(data.get("last_name"), 150)
    user.clerk_username = _text(data.get("username"), 150)
    image_url = _text(data.get("image_url"), 10_000)
    user.image_url = image_url if len(image_url) <= 1000 else ""
    user.clerk_updated_at = incoming_updated_at
    user.profile_synced_at = timezone.now()
    user.save()
    _link_twitch_account(user, _objects(data.get("external_accounts")))
    if outcome == "created":
        _announce_signup(user, source=source)
    return outcome


def _announce_signup(user: User, *, source: str) -> None:
    posthog.capture_on_commit(
        "user signed up",
        distinct_id=user.clerk_id,
        properties={"source": source, "has_twitch": TwitchAccount.objects.filter(user=user).exists()},
    )


def _create_or_lock(clerk_id: str) -> tuple[User, bool]:
    try:
        with transaction.atomic():
            return User.objects.create(clerk_id=clerk_id, username=clerk_id), True
    except IntegrityError:
        # Their first API request (or a concurrent delivery) created the row meanwhile.
        return User.objects.select_for_update().get(clerk_id=clerk_id), False


def _skip_reason(user: User, incoming_updated_at: int | None) -> UpsertOutcome | None:
    if user.deleted_at is not None:
        return "deleted"
    stored = user.clerk_updated_at
    if stored is not None and incoming_updated_at is not None and incoming_updated_at < stored:
        return "stale"
    return None


def _text(value: object, max_length: int) -> str:
    """A string field from Clerk, or "" when it is missing or not a string; NULs dropped, clipped to fit."""
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "")[:max_length]


def _milliseconds(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62:
        return value
    return None


def _objects(value: object) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _primary_email(data: dict) -> str:
    addresses = _objects(data.get("email_addresses"))
    primary = next((a for a in addresses if a.get("id") == data.get("primary_email_address_id")), None)
    email = _text((primary or (addresses[0] if addresses else {})).get("email_address"), 10_000)
    return email if len(email) <= 254 else ""


def _link_twitch_account(user: User, external_accounts: list[dict]) -> None:
    twitch = next((account for account in external_accounts if account.get("provider") in TWITCH_PROVIDERS), None)
    twitch_user_id = _text(twitch.get("provider_user_id"), 32) if twitch else ""
    if not twitch_user_id:
        TwitchAccount.objects.filter(user=user).delete()  # unlinked in Clerk
        return
    previous_id = TwitchAccount.objects.filter(user=user).values_list("twitch_user_id", flat=True).first()
    account, _ = TwitchAccount.objects.update_or_create(
        user=user, defaults={"twitch_user_id": twitch_user_id, "login": _text(twitch.get("username"), 64)}
    )
    if previous_id != twitch_user_id:
        posthog.capture_on_commit(
            "twitch linked",
            distinct_id=user.clerk_id,
            properties={"twitch_user_id": account.twitch_user_id, "twitch_login": account.login},
        )
        if settings.TWITCH_CLIENT_ID:
            from clips.tasks import refresh_twitch_account

            # The display name (and current login) come from Helix, off the request path.
            refresh_twitch_account.defer(account_id=str(account.pk))


@transaction.atomic
def clerk_user_mark_deleted(*, clerk_id: str) -> bool:
    """Deactivate a user deleted in Clerk, keeping their data. Returns False if already done.

    An unknown user gets an inactive row, so a `user.created` delivered late cannot revive them.
    """
    user, _ = User.objects.get_or_create(clerk_id=clerk_id, defaults={"username": clerk_id, "is_active": False})
    deleted = bool(
        User.objects.filter(pk=user.pk, deleted_at__isnull=True).update(is_active=False, deleted_at=timezone.now())
    )
    if deleted:
        posthog.capture_on_commit("user deleted", distinct_id=clerk_id, properties={})
    return deleted


def _storable_json(value: dict) -> dict:
    # PostgreSQL's jsonb cannot hold the NUL character; the delivery log keeps everything else.
    return json.loads(json.dumps(value).replace("\\u0000", ""))


@dataclass(frozen=True)
class WebhookResult:
    duplicate: bool
    outcome: str


@transaction.atomic
def clerk_webhook_apply(*, delivery_id: str, event: dict) -> WebhookResult:
    """Apply one verified Clerk webhook event exactly once per `svix-id`."""
    if not isinstance(event, dict):
        raise InvalidWebhookPayload("Expected a JSON object.")
    event_type = event.get("type")
    data = event.get("data")
    if not isinstance(event_type, str) or not isinstance(data, dict):
        raise InvalidWebhookPayload("Expected a Clerk event with a string `type` and an object `data`.")
    if event_type.startswith("user.") and not CLERK_USER_ID.fullmatch(str(data.get("id", ""))):
        raise InvalidWebhookPayload("A user event needs `data.id`, a Clerk user id.")
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                source=WebhookDelivery.Source.CLERK,
                delivery_id=delivery_id,
                event_type=event_type[:64],
                outcome=WebhookDelivery.Outcome.IGNORED,
                payload=_storable_json(event),
            )
    except IntegrityError:
        return WebhookResult(duplicate=True, outcome="duplicate")

    if event_type in ("user.created", "user.updated"):
        outcome = clerk_user_upsert(data=data)
        delivery.outcome = WebhookDelivery.Outcome.STALE if outcome in ("stale", "deleted") else "applied"
    elif event_type == "user.deleted":
        clerk_user_mark_deleted(clerk_id=data["id"])
        delivery.outcome = WebhookDelivery.Outcome.APPLIED
    else:
        logger.info("Ignoring Clerk webhook of type %r (%s)", event_type, delivery_id)
    delivery.save(update_fields=["outcome"])
    return WebhookResult(duplicate=False, outcome=delivery.outcome)
