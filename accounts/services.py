import json
import logging
import secrets
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import analytics
from accounts.models import TwitchAccount, User, WebhookDelivery
from accounts.signals import twitch_link_changed
from core.errors import ServiceError
from core.queue import defer
from integrations.clerk import backend_api
from integrations.clerk.sessions import CLERK_USER_ID
from integrations.twitch import TwitchClient

logger = logging.getLogger(__name__)

TWITCH_PROVIDERS = {"oauth_twitch", "twitch"}


class UpsertOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    STALE = "stale"
    DELETED = "deleted"


class InvalidWebhookPayload(ServiceError):
    """Clerk data we cannot apply: a webhook answers 400, a sync skips the user."""

    default_code = "invalid_payload"


def local_superuser_ensure(*, username: str = "admin") -> str | None:
    """Create the first local superuser with a random password.

    Returns the password, to be shown once, or None when a superuser already exists.
    """
    if User.objects.filter(is_superuser=True).exists():
        return None
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(username=username, email="", password=password)
    return password


def user_row_lock(*, user_id) -> None:
    """Lock the user's row until the surrounding transaction ends: serialises that user's writes."""
    User.objects.select_for_update().filter(pk=user_id).first()


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
        analytics.user_signed_up(user, source="first_request")
    return user


def _fetch_profile_on_first_request(user: User) -> None:
    if not backend_api.is_configured():
        return
    try:
        clerk_profile_sync(clerk_id=user.clerk_id)
    except (backend_api.ClerkAPIError, InvalidWebhookPayload) as exc:
        # The user can work without a profile; the queue fills it in later.
        logger.warning("Could not fetch the Clerk profile of %s (%s); queued a retry", user.clerk_id, exc)
        defer(
            "accounts.tasks.sync_clerk_profile",
            queueing_lock=f"sync_clerk_profile:{user.clerk_id}",
            clerk_id=user.clerk_id,
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
    outcome = UpsertOutcome.CREATED if user is None else UpsertOutcome.UPDATED
    if user is None and not dry_run:
        user, created = _create_or_lock(clerk_id)
        outcome = UpsertOutcome.CREATED if created else UpsertOutcome.UPDATED
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
    if outcome == UpsertOutcome.CREATED:
        analytics.user_signed_up(user, source=source)
    return outcome


def _create_or_lock(clerk_id: str) -> tuple[User, bool]:
    try:
        with transaction.atomic():
            return User.objects.create(clerk_id=clerk_id, username=clerk_id), True
    except IntegrityError:
        # Their first API request (or a concurrent delivery) created the row meanwhile.
        return User.objects.select_for_update().get(clerk_id=clerk_id), False


def _skip_reason(user: User, incoming_updated_at: int | None) -> UpsertOutcome | None:
    if user.deleted_at is not None:
        return UpsertOutcome.DELETED
    stored = user.clerk_updated_at
    if stored is not None and incoming_updated_at is not None and incoming_updated_at < stored:
        return UpsertOutcome.STALE
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
        unlinked, _ = TwitchAccount.objects.filter(user=user).delete()  # unlinked in Clerk
        if unlinked:
            twitch_link_changed.send(sender=TwitchAccount, user_id=user.pk)
        return
    previous_id = TwitchAccount.objects.filter(user=user).values_list("twitch_user_id", flat=True).first()
    account, _ = TwitchAccount.objects.update_or_create(
        user=user, defaults={"twitch_user_id": twitch_user_id, "login": _text(twitch.get("username"), 64)}
    )
    if previous_id != twitch_user_id:
        analytics.twitch_linked(account)
        twitch_link_changed.send(sender=TwitchAccount, user_id=user.pk)
        if settings.TWITCH_CLIENT_ID:
            # The display name (and current login) come from Helix, off the request path.
            defer("accounts.tasks.refresh_twitch_account", account_id=str(account.pk))


def twitch_account_refresh(*, account_id: str, client: TwitchClient | None = None) -> TwitchAccount | None:
    """Fill in the linked account's display name and current login from Helix `GET /users`."""
    account = TwitchAccount.objects.filter(pk=account_id).first()
    if account is None:
        return None  # unlinked meanwhile
    users = (client or TwitchClient()).get_users(ids=[account.twitch_user_id])
    if users:
        account.login = (users[0].get("login") or account.login)[:64]
        account.display_name = (users[0].get("display_name") or "")[:64]
        account.save(update_fields=["login", "display_name", "updated_at"])
    return account


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
        analytics.user_deleted(clerk_id=clerk_id)
        twitch_link_changed.send(sender=User, user_id=user.pk)
    return deleted


def _storable_json(value: dict) -> dict:
    # PostgreSQL's jsonb cannot hold the NUL character; the delivery log keeps everything else.
    return json.loads(json.dumps(value).replace("\\u0000", ""))


@dataclass(frozen=True)
class WebhookResult:
    duplicate: bool
    outcome: str  # WebhookDelivery.Outcome, or "duplicate"


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
        applied = outcome in (UpsertOutcome.CREATED, UpsertOutcome.UPDATED)
        delivery.outcome = WebhookDelivery.Outcome.APPLIED if applied else WebhookDelivery.Outcome.STALE
    elif event_type == "user.deleted":
        clerk_user_mark_deleted(clerk_id=data["id"])
        delivery.outcome = WebhookDelivery.Outcome.APPLIED
    else:
        logger.info("Ignoring Clerk webhook of type %r (%s)", event_type, delivery_id)
    delivery.save(update_fields=["outcome"])
    return WebhookResult(duplicate=False, outcome=delivery.outcome)
